import { Module } from '@nestjs/common';
import { EtaModule } from '../eta/eta.module.js';
import { HealthModule } from '../health/health.module.js';
import { OutboxModule } from '../outbox/outbox.module.js';
import { TrackingFeed } from './tracking-feed.js';
import { TrackingLinksController } from './tracking-links.controller.js';
import { TrackingRepository } from './tracking.repository.js';
import { TrackingService } from './tracking.service.js';
import { WebhookEta } from './webhook-eta.js';

/**
 * Live tracking for customers: links, the view and stream behind them
 * (tracking.routes.ts), the page, and the ETA in delivery webhooks.
 */
@Module({
  imports: [EtaModule, OutboxModule, HealthModule],
  controllers: [TrackingLinksController],
  providers: [TrackingRepository, TrackingService, TrackingFeed, WebhookEta],
  exports: [TrackingService, TrackingFeed],
})
export class TrackingModule {}
