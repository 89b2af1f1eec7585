import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { WebhookRelay } from '../outbox/webhook-relay.service.js';

/**
 * The transactional outbox of delivery changes. Every state change writes its
 * message to Vendure in its own transaction, with its audit event (the
 * PostgreSQL function `record_delivery_change`, which also builds the
 * payload), so the message exists if and only if the change committed;
 * `afterCommit` wakes the relay that sends it.
 */
@Injectable()
export class DeliveryOutbox {
  constructor(
    private readonly relay: WebhookRelay,
    private readonly config: AppConfig,
  ) {}

  /** When a new message is first sent: the first step of WEBHOOK_RETRY_SCHEDULE_SECONDS. */
  firstAttemptAfterSeconds(): number {
    return this.config.webhookRetryScheduleSeconds[0];
  }

  afterCommit(): void {
    this.relay.wake();
  }
}
