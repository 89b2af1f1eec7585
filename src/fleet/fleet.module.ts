import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AvailabilityReconciler } from './availability-reconciler.js';
import { DriverEntity } from './driver.entity.js';
import { FleetRepository } from './fleet.repository.js';
import { FleetService } from './fleet.service.js';
import { DriverStateMirror } from './state-mirror.js';

/** A driver's state and its Redis copy: the one writer of both. */
@Module({
  imports: [TypeOrmModule.forFeature([DriverEntity])],
  providers: [FleetRepository, FleetService, DriverStateMirror, AvailabilityReconciler],
  exports: [FleetService],
})
export class FleetModule {}
