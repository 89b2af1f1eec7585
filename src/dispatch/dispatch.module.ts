import { Module } from '@nestjs/common';
import { AvailabilityModule } from '../availability/availability.module.js';
import { DeliveriesModule } from '../deliveries/deliveries.module.js';
import { FleetModule } from '../fleet/fleet.module.js';
import { AssignmentService } from './assignment.service.js';
import { DriverWorkController, OffersController } from './dispatch.controller.js';
import { DispatchTimers } from './dispatch-timers.js';
import { Dispatcher } from './dispatcher.service.js';
import { OffersService } from './offers.service.js';

@Module({
  imports: [AvailabilityModule, DeliveriesModule, FleetModule],
  controllers: [OffersController, DriverWorkController],
  providers: [AssignmentService, Dispatcher, DispatchTimers, OffersService],
  exports: [AssignmentService],
})
export class DispatchModule {}
