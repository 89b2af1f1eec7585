import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuthModule } from '../auth/auth.module.js';
import { DriverEntity } from '../fleet/driver.entity.js';
import { FleetModule } from '../fleet/fleet.module.js';
import { DriversController } from './drivers.controller.js';
import { DriversRepository } from './drivers.repository.js';
import { DriversService } from './drivers.service.js';

/** Registration and profiles of drivers, and their tokens; their state (status, isActive) is the fleet's. */
@Module({
  imports: [TypeOrmModule.forFeature([DriverEntity]), AuthModule, FleetModule],
  controllers: [DriversController],
  providers: [DriversRepository, DriversService],
})
export class DriversModule {}
