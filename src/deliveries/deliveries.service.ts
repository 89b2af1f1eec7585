import { Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal.js';
import { decodeCursor, toPage } from '../common/cursor.js';
import { DomainError } from '../common/domain-error.js';
import { actorOf } from './actor.js';
import { DeliveriesRepository, DeliveryFilters } from './deliveries.repository.js';
import { DeliveryEventEntity } from './delivery-event.entity.js';
import { DeliveryEntity } from './delivery.entity.js';
import { DeliveryTransitions } from './delivery-transitions.service.js';
import type { REPORTABLE_STATUSES } from './dto/update-delivery-status.dto.js';

/** Reading deliveries, and the status changes drivers and operators report. */
@Injectable()
export class DeliveriesService {
  constructor(
    private readonly repository: DeliveriesRepository,
    private readonly transitions: DeliveryTransitions,
  ) {}

  /** A delivery the principal may see: a driver only its own (403 otherwise). */
  async get(id: string, principal: Principal): Promise<DeliveryEntity> {
    const delivery = await this.repository.findById(id);
    if (!delivery) throw new DomainError('DELIVERY_NOT_FOUND', `Delivery ${id} does not exist`);
    if (principal.kind === 'driver' && delivery.driverId !== principal.driverId) {
      throw new DomainError('FORBIDDEN', 'A driver token acts only on its own deliveries');
    }
    return delivery;
  }

  async events(id: string, principal: Principal): Promise<DeliveryEventEntity[]> {
    await this.get(id, principal);
    return this.repository.listEvents(id);
  }

  async list(query: DeliveryFilters & { limit?: number; cursor?: string }) {
    const limit = query.limit ?? 50;
    const afterId = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    return toPage(await this.repository.listPage({ ...query, afterId, limit }), limit);
  }

  async report(
    id: string,
    status: (typeof REPORTABLE_STATUSES)[number],
    reason: string | undefined,
    principal: Principal,
  ): Promise<DeliveryEntity> {
    const delivery = await this.repository.findById(id);
    if (
      delivery &&
      principal.kind === 'driver' &&
      delivery.driverId !== principal.driverId &&
      (await this.repository.wasDriverOf(id, principal.driverId))
    ) {
      throw new DomainError('DELIVERY_REASSIGNED', 'This driver was taken off the delivery (or left it); it has gone to another driver');
    }
    await this.get(id, principal);
    if (status === 'CANCELLED' && principal.kind !== 'admin') {
      throw new DomainError('FORBIDDEN', 'Only operators (or Vendure, through its event) cancel a delivery');
    }
    return (await this.transitions.change(id, status, actorOf(principal), reason)).delivery;
  }
}
