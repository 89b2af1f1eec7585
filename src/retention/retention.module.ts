import { Module } from '@nestjs/common';
import { RetentionRepository } from './retention.repository.js';
import { RetentionService } from './retention.service.js';

/** Deletes delivered outbox messages after RETENTION_DAYS and replay receipts after their window, once per cluster. */
@Module({ providers: [RetentionRepository, RetentionService] })
export class RetentionModule {}
