import { Module } from '@nestjs/common';
import { AvailabilityModule } from '../availability/availability.module.js';
import { DeliveriesModule } from '../deliveries/deliveries.module.js';
import { AssignmentService } from './assignment.service.js';

@Module({
  imports: [AvailabilityModule, DeliveriesModule],
  providers: [AssignmentService],
  exports: [AssignmentService],
})
export class AssignmentModule {}
