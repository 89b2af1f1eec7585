import { Module } from '@nestjs/common';
import { WebhookMessagesController } from './webhook-messages.controller.js';
import { WebhookMessagesRepository } from './webhook-messages.repository.js';
import { WebhookMessagesService } from './webhook-messages.service.js';
import { WebhookRelay } from './webhook-relay.service.js';

/** Outbound webhooks: the outbox rows, the relay that sends them to Vendure, and the operators' view of them. */
@Module({
  controllers: [WebhookMessagesController],
  providers: [WebhookMessagesRepository, WebhookMessagesService, WebhookRelay],
  exports: [WebhookRelay],
})
export class OutboxModule {}
