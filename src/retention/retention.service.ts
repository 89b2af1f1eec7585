import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { RECEIPT_KEEP_SECONDS } from '../signed-requests/signed-request-replay.service.js';
import { RetentionRepository } from './retention.repository.js';

/** Rows per DELETE: small enough that no statement holds many row locks, or holds them long. */
export const RETENTION_BATCH_SIZE = 1_000;
/**
 * How often each process tries a run: receipts go about a minute after they
 * expire, and a minute's worth of delivered messages is a few batches.
 */
const RUN_EVERY_MS = 60_000;

type Table = 'webhook_messages' | 'webhook_receipts';

export interface RetentionReport {
  /** Delivered messages this run deleted. */
  messages: number;
  /** Replay receipts this run deleted. */
  receipts: number;
  /** Another process was deleting: this run stopped there and left the rest to it. */
  skipped: boolean;
}

/**
 * Deletes delivered outbox messages RETENTION_DAYS after their delivery and
 * replay receipts once past the replay window (RECEIPT_KEEP_SECONDS), in
 * batches of RETENTION_BATCH_SIZE, each batch under the cluster's retention
 * lock (see RetentionRepository). Pending and failed messages are never
 * deleted: a failed one waits for an operator to send it again. Every
 * process runs the timer; one at a time deletes, the others skip.
 */
@Injectable()
export class RetentionService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(RetentionService.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<RetentionReport>;
  private stopped = false;

  constructor(
    private readonly config: AppConfig,
    private readonly repository: RetentionRepository,
    private readonly metrics: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      this.run().catch((error: Error) => this.logger.warn(`Retention run failed, will retry: ${error.message}`));
    }, RUN_EVERY_MS);
    this.timer.unref();
  }

  /** Stops between two batches, while the database is still open. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** Deletes what has expired, now (the timer calls it every minute); a call during this process's run joins that run. */
  run(): Promise<RetentionReport> {
    this.running ??= this.deleteExpired().finally(() => (this.running = undefined));
    return this.running;
  }

  private async deleteExpired(): Promise<RetentionReport> {
    const days = this.config.retentionDays;
    const messages = await this.drain('webhook_messages', (limit) => this.repository.deleteDeliveredMessages(days, limit));
    const receipts = messages.skipped
      ? { deleted: 0, skipped: true }
      : await this.drain('webhook_receipts', (limit) => this.repository.deleteReceiptsOlderThan(RECEIPT_KEEP_SECONDS, limit));
    const report = { messages: messages.deleted, receipts: receipts.deleted, skipped: receipts.skipped };
    this.metrics.backgroundRun('retention', report.skipped ? 'skipped' : 'ran');
    if (report.messages > 0 || report.receipts > 0) {
      this.logger.log(
        `Deleted ${report.messages} webhook messages delivered over ${days} days ago and ${report.receipts} expired webhook receipts` +
          (report.skipped ? '; another process is deleting the rest' : ''),
      );
    } else if (report.skipped) this.logger.debug('Retention skipped: another process is deleting');
    return report;
  }

  /** Deletes batch after batch until one comes back short, another process holds the lock, or shutdown begins. */
  private async drain(table: Table, batch: (limit: number) => Promise<number | null>): Promise<{ deleted: number; skipped: boolean }> {
    let deleted = 0;
    while (!this.stopped) {
      const rows = await batch(RETENTION_BATCH_SIZE);
      if (rows === null) return { deleted, skipped: true };
      deleted += rows;
      this.metrics.retentionDeletedRows(table, rows);
      if (rows < RETENTION_BATCH_SIZE) break;
    }
    return { deleted, skipped: false };
  }
}
