import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DriverEntity } from './driver.entity.js';
import { DriverStateEvents } from './driver-state.events.js';
import { AuthModule } from '../auth/auth.module.js';
import { DriversController } from './drivers.controller.js';
import { DriversRepository } from './drivers.repository.js';
import { DriversService } from './drivers.service.js';

@Module({
  imports: [TypeOrmModule.forFeature([DriverEntity]), AuthModule],
  controllers: [DriversController],
  providers: [DriversRepository, DriversService, DriverStateEvents],
  exports: [DriversRepository, DriversService, DriverStateEvents],
})
export class DriversModule {}
