import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { FleetModule } from '../fleet/fleet.module.js';
import { OutboxModule } from '../outbox/outbox.module.js';
import { DeliveriesController } from './deliveries.controller.js';
import { DeliveriesRepository } from './deliveries.repository.js';
import { DeliveriesService } from './deliveries.service.js';
import { DeliveryEventEntity } from './delivery-event.entity.js';
import { DeliveryOutbox } from './delivery-outbox.js';
import { DeliveryTransitions } from './delivery-transitions.service.js';
import { DeliveryEntity } from './delivery.entity.js';

@Module({
  imports: [TypeOrmModule.forFeature([DeliveryEntity, DeliveryEventEntity]), FleetModule, OutboxModule],
  controllers: [DeliveriesController],
  providers: [DeliveriesRepository, DeliveriesService, DeliveryTransitions, DeliveryOutbox],
  exports: [DeliveriesRepository, DeliveriesService, DeliveryTransitions, DeliveryOutbox],
})
export class DeliveriesModule {}
