import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DriverEntity } from '../drivers/driver.entity.js';
import { DriversModule } from '../drivers/drivers.module.js';
import { AvailabilityReconciler } from './availability.reconciler.js';
import { AvailabilityRepository } from './availability.repository.js';
import { AvailabilityService } from './availability.service.js';
import { AvailabilityStore } from './availability.store.js';
import { DriverAvailabilityController } from './driver-availability.controller.js';
import { LocationWriter } from './location-writer.js';

@Module({
  imports: [TypeOrmModule.forFeature([DriverEntity]), DriversModule],
  controllers: [DriverAvailabilityController],
  providers: [AvailabilityRepository, AvailabilityStore, AvailabilityService, AvailabilityReconciler, LocationWriter],
  exports: [AvailabilityService, AvailabilityReconciler],
})
export class AvailabilityModule {}
