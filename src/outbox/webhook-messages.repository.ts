import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { ChangedRows } from '../database/query-results.js';

export type WebhookMessageStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookMessage {
  id: string;
  deliveryId: string;
  deliverySeq: number;
  type: string;
  payload: Record<string, unknown>;
  requestId: string | null;
  status: WebhookMessageStatus;
  attempts: number;
  nextAttemptAt: Date;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
  failedAt: Date | null;
}

/** The outbox in numbers: messages waiting and dead-lettered, and the age of the oldest waiting one. */
export interface WebhookMessageStats {
  pending: number;
  failed: number;
  oldestPendingSeconds: number;
}

const COLUMNS = `id, delivery_id AS "deliveryId", delivery_seq AS "deliverySeq", type, payload, request_id AS "requestId",
  status, attempts, next_attempt_at AS "nextAttemptAt", last_status_code AS "lastStatusCode", last_error AS "lastError",
  created_at AS "createdAt", delivered_at AS "deliveredAt", failed_at AS "failedAt"`;

/** The outbox of messages to Vendure (`webhook_messages`). */
@Injectable()
export class WebhookMessagesRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Leases up to `limit` due messages for sending. A message is due only when
   * every earlier message of its delivery has been delivered (order per
   * delivery); SKIP LOCKED and the lease let several processes share the work
   * without sending one message twice at the same time.
   */
  async claimDue(limit: number, leaseSeconds: number): Promise<WebhookMessage[]> {
    const [rows]: ChangedRows<WebhookMessage> = await this.dataSource.query(
      `UPDATE webhook_messages m SET lease_until = now() + make_interval(secs => $2), attempts = m.attempts + 1
       WHERE m.id IN (
         SELECT c.id FROM webhook_messages c
         WHERE c.status = 'pending' AND c.next_attempt_at <= now() AND (c.lease_until IS NULL OR c.lease_until < now())
           AND NOT EXISTS (
             SELECT 1 FROM webhook_messages e
             WHERE e.delivery_id = c.delivery_id AND e.delivery_seq < c.delivery_seq AND e.status <> 'delivered')
         ORDER BY c.next_attempt_at, c.delivery_seq
         LIMIT $1
         FOR UPDATE SKIP LOCKED)
       RETURNING ${COLUMNS}`,
      [limit, leaseSeconds],
    );
    return rows;
  }

  /** Records deliveries, several in one statement. */
  async markDelivered(deliveries: { id: string; statusCode: number }[]): Promise<void> {
    await this.dataSource.query(
      `UPDATE webhook_messages m SET status = 'delivered', delivered_at = now(), lease_until = NULL, last_status_code = d.status_code,
              last_error = NULL
       FROM unnest($1::varchar[], $2::int[]) AS d (id, status_code)
       WHERE m.id = d.id`,
      [deliveries.map((d) => d.id), deliveries.map((d) => d.statusCode)],
    );
  }

  /**
   * Records a failed attempt: the next one at `nextAttemptAt`, or dead-lettered
   * (failed) when `final`. Never undoes a delivery another sender recorded.
   */
  async markAttemptFailed(id: string, outcome: { statusCode: number | null; error: string; nextAttemptAt: Date; final: boolean }) {
    await this.dataSource.query(
      `UPDATE webhook_messages SET lease_until = NULL, last_status_code = $2, last_error = left($3, 500),
              next_attempt_at = $4, status = CASE WHEN $5 THEN 'failed' ELSE status END,
              failed_at = CASE WHEN $5 THEN now() ELSE failed_at END
       WHERE id = $1 AND status = 'pending'`,
      [id, outcome.statusCode, outcome.error, outcome.nextAttemptAt, outcome.final],
    );
  }

  /** Gives back a lease without counting the attempt (the send was interrupted by shutdown). */
  async releaseUnsent(id: string): Promise<void> {
    await this.dataSource.query(`UPDATE webhook_messages SET lease_until = NULL, attempts = attempts - 1 WHERE id = $1`, [id]);
  }

  /**
   * Gives claimed messages back unsent: the claim's attempt does not count,
   * and the lease runs `retryInSeconds` more, so they are claimed again then.
   */
  async returnUnsent(ids: string[], retryInSeconds: number): Promise<void> {
    await this.dataSource.query(
      `UPDATE webhook_messages SET attempts = attempts - 1, lease_until = now() + make_interval(secs => $2) WHERE id = ANY($1::varchar[])`,
      [ids, retryInSeconds],
    );
  }

  findById(id: string): Promise<WebhookMessage | null> {
    return this.dataSource
      .query<WebhookMessage[]>(`SELECT ${COLUMNS} FROM webhook_messages WHERE id = $1`, [id])
      .then((rows) => rows[0] ?? null);
  }

  /** Keyset page in creation order, `limit + 1` rows at most. */
  listPage(filters: { status?: WebhookMessageStatus; afterId?: string; limit: number }): Promise<WebhookMessage[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filters.status) where.push(`status = $${params.push(filters.status)}`);
    if (filters.afterId) {
      where.push(`(created_at, id) > (SELECT c.created_at, c.id FROM webhook_messages c WHERE c.id = $${params.push(filters.afterId)})`);
    }
    const sql = `SELECT ${COLUMNS} FROM webhook_messages ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                 ORDER BY created_at, id LIMIT $${params.push(filters.limit + 1)}`;
    return this.dataSource.query(sql, params);
  }

  /** Sends a failed or pending message again, from the first attempt on; null if unknown. */
  async retry(id: string): Promise<WebhookMessage | null> {
    await this.dataSource.query(
      `UPDATE webhook_messages SET status = 'pending', attempts = 0, next_attempt_at = now(), failed_at = NULL
       WHERE id = $1 AND status <> 'delivered'`,
      [id],
    );
    return this.findById(id);
  }

  async stats(): Promise<WebhookMessageStats> {
    const [row]: WebhookMessageStats[] = await this.dataSource.query(
      `SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending,
              count(*) FILTER (WHERE status = 'failed')::int AS failed,
              COALESCE(EXTRACT(EPOCH FROM now() - min(created_at) FILTER (WHERE status = 'pending')), 0)::float8 AS "oldestPendingSeconds"
       FROM webhook_messages`,
    );
    return row;
  }
}
