import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DriverEntity } from './driver.entity.js';
import { DriverStateEvents } from './driver-state.events.js';
import { DriverTokenService } from './driver-token.service.js';
import { DriversController } from './drivers.controller.js';
import { DriversRepository } from './drivers.repository.js';
import { DriversService } from './drivers.service.js';

@Module({
  imports: [TypeOrmModule.forFeature([DriverEntity])],
  controllers: [DriversController],
  providers: [DriversRepository, DriversService, DriverTokenService, DriverStateEvents],
  exports: [DriversRepository, DriversService, DriverTokenService, DriverStateEvents],
})
export class DriversModule {}
