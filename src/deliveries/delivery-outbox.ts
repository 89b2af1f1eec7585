import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { DeliveryEventEntity } from './delivery-event.entity.js';
import type { DeliveryEntity } from './delivery.entity.js';

/**
 * Called inside the transaction of every delivery state change, after the
 * change and its audit event are written: the place where the outbound
 * webhook to Vendure is written, so it commits or rolls back with the change.
 * Sending happens after commit, elsewhere.
 */
@Injectable()
export class DeliveryOutbox {
  async record(_manager: EntityManager, _delivery: DeliveryEntity, _event: DeliveryEventEntity): Promise<void> {
    // Outbound webhooks are not configured in this release: nothing to record yet.
  }
}
