import { Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { SignedRequestReplayInterceptor } from './signed-request-replay.interceptor.js';
import { SignedRequestReplayService } from './signed-request-replay.service.js';
import { WebhookMessagesController } from './webhook-messages.controller.js';
import { WebhookMessagesRepository } from './webhook-messages.repository.js';
import { WebhookMessagesService } from './webhook-messages.service.js';
import { WebhookReceiptsRepository } from './webhook-receipts.repository.js';
import { WebhookRelay } from './webhook-relay.service.js';

@Module({
  controllers: [WebhookMessagesController],
  providers: [
    WebhookReceiptsRepository,
    SignedRequestReplayService,
    { provide: APP_INTERCEPTOR, useClass: SignedRequestReplayInterceptor },
    WebhookMessagesRepository,
    WebhookMessagesService,
    WebhookRelay,
  ],
  exports: [WebhookMessagesRepository, WebhookRelay],
})
export class WebhooksModule {}
