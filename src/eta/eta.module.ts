import { Module } from '@nestjs/common';
import { EtaEstimator, StraightLineEta } from './eta.js';

/** ETAs behind one seam (EtaEstimator); the straight line by default. */
@Module({
  providers: [{ provide: EtaEstimator, useClass: StraightLineEta }],
  exports: [EtaEstimator],
})
export class EtaModule {}
