import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { WebhookMessagesRepository } from '../webhooks/webhook-messages.repository.js';
import { WebhookRelay } from '../webhooks/webhook-relay.service.js';
import type { DeliveryEventEntity } from './delivery-event.entity.js';
import type { DeliveryEntity } from './delivery.entity.js';

/**
 * The transactional outbox of delivery changes. `record` runs inside the
 * transaction of every state change, so the message to Vendure exists if and
 * only if the change committed; `afterCommit` wakes the relay that sends it.
 */
@Injectable()
export class DeliveryOutbox {
  constructor(
    private readonly messages: WebhookMessagesRepository,
    private readonly relay: WebhookRelay,
    private readonly config: AppConfig,
  ) {}

  async record(manager: EntityManager, delivery: DeliveryEntity, event: DeliveryEventEntity): Promise<void> {
    await this.messages.insert(manager, {
      // The webhook-id: the same on every attempt, so Vendure can de-duplicate.
      id: `msg_${randomUUID()}`,
      deliveryId: delivery.id,
      deliverySeq: event.seq,
      type: event.type,
      requestId: event.requestId,
      payload: {
        type: event.type,
        timestamp: event.at.toISOString(),
        data: {
          deliveryId: delivery.id,
          sellerOrderId: delivery.sellerOrderId,
          channelId: delivery.channelId,
          driverId: delivery.driverId,
          status: delivery.status,
          distanceMeters: delivery.distanceMeters,
          occurredAt: event.at.toISOString(),
          ...(event.requestId ? { requestId: event.requestId } : {}),
        },
      },
    }, this.config.webhookRetryScheduleSeconds[0]);
  }

  afterCommit(): void {
    this.relay.wake();
  }
}
