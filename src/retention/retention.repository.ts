import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

/**
 * The advisory lock of the one process deleting: next to the migrations'
 * 7_316_450_021, and beyond the int4 range of the orders' hashtext locks.
 */
export const RETENTION_LOCK_KEY = 7_316_450_022;

/**
 * Deletes what is no longer needed, one bounded batch per call. Each batch is
 * a transaction that first tries the cluster's retention lock
 * (`pg_try_advisory_xact_lock`): while one process deletes, another's batch
 * finds the lock taken and answers null at once, deleting nothing. The lock
 * ends with the batch's commit, so no connection is held between batches
 * (the embedded database has only one). Rows are picked with SKIP LOCKED, so
 * a batch never waits for a row another transaction holds, and deleted by
 * ctid (a TID scan: locked, they cannot move meanwhile), so the DELETE never
 * joins against the whole table.
 */
@Injectable()
export class RetentionRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Deletes up to `limit` delivered messages delivered more than `days` ago;
   * never a pending or failed one. A message is delivered after it is
   * created, so `created_at` bounds the scan to the existing
   * `webhook_messages_status_created_idx` without keeping anything that
   * `delivered_at` alone would delete.
   */
  deleteDeliveredMessages(days: number, limit: number): Promise<number | null> {
    return this.deleteUnderLock(
      `WITH gone AS (
         DELETE FROM webhook_messages WHERE ctid = ANY (ARRAY(
           SELECT ctid FROM webhook_messages
           WHERE status = 'delivered' AND created_at < now() - make_interval(days => $1) AND delivered_at < now() - make_interval(days => $1)
           ORDER BY created_at, id
           LIMIT $2
           FOR UPDATE SKIP LOCKED))
         RETURNING 1)
       SELECT count(*)::int AS deleted FROM gone`,
      [days, limit],
    );
  }

  /** Deletes up to `limit` replay receipts created more than `seconds` ago, answered or not. */
  deleteReceiptsOlderThan(seconds: number, limit: number): Promise<number | null> {
    return this.deleteUnderLock(
      `WITH gone AS (
         DELETE FROM webhook_receipts WHERE ctid = ANY (ARRAY(
           SELECT ctid FROM webhook_receipts
           WHERE created_at < now() - make_interval(secs => $1)
           ORDER BY created_at
           LIMIT $2
           FOR UPDATE SKIP LOCKED))
         RETURNING 1)
       SELECT count(*)::int AS deleted FROM gone`,
      [seconds, limit],
    );
  }

  /** The rows one statement deleted, or null when another process holds the retention lock. */
  private deleteUnderLock(sql: string, params: unknown[]): Promise<number | null> {
    return this.dataSource.transaction(async (manager) => {
      const [{ held }]: Array<{ held: boolean }> = await manager.query('SELECT pg_try_advisory_xact_lock($1) AS held', [
        RETENTION_LOCK_KEY,
      ]);
      if (!held) return null;
      const [{ deleted }]: Array<{ deleted: number }> = await manager.query(sql, params);
      return deleted;
    });
  }
}
