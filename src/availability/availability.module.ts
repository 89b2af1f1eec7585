import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DriverEntity } from '../fleet/driver.entity.js';
import { FleetModule } from '../fleet/fleet.module.js';
import { AvailabilityRepository } from './availability.repository.js';
import { AvailabilityService } from './availability.service.js';
import { AvailabilityStore } from './availability.store.js';
import { DriverAvailabilityController } from './driver-availability.controller.js';
import { LocationWriter } from './location-writer.js';

@Module({
  imports: [TypeOrmModule.forFeature([DriverEntity]), FleetModule],
  controllers: [DriverAvailabilityController],
  providers: [AvailabilityRepository, AvailabilityStore, AvailabilityService, LocationWriter],
  exports: [AvailabilityService],
})
export class AvailabilityModule {}
