import { Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { SignedRequestReplayInterceptor } from './signed-request-replay.interceptor.js';
import { SignedRequestReplayService } from './signed-request-replay.service.js';
import { WebhookReceiptsRepository } from './webhook-receipts.repository.js';

/**
 * Inbound signed requests (Vendure's events, the driver app backend): replay
 * safety on webhook-id. The signature itself is checked by the
 * Authenticator (auth/).
 */
@Module({
  providers: [
    WebhookReceiptsRepository,
    SignedRequestReplayService,
    { provide: APP_INTERCEPTOR, useClass: SignedRequestReplayInterceptor },
  ],
  exports: [SignedRequestReplayService],
})
export class SignedRequestsModule {}
