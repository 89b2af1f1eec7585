import { Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { SignedRequestReplayInterceptor } from './signed-request-replay.interceptor.js';
import { SignedRequestReplayService } from './signed-request-replay.service.js';
import { WebhookReceiptsRepository } from './webhook-receipts.repository.js';

@Module({
  providers: [
    WebhookReceiptsRepository,
    SignedRequestReplayService,
    { provide: APP_INTERCEPTOR, useClass: SignedRequestReplayInterceptor },
  ],
})
export class WebhooksModule {}
