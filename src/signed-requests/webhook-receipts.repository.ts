import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { ChangedRows } from '../database/query-results.js';

export interface Receipt {
  bodySha256: string;
  /** The route the request was first seen on, `METHOD /path`; null on receipts older than targets. */
  target: string | null;
  statusCode: number | null;
  response: unknown;
  /** Its first attempt failed on our side (5xx) or was rate-limited: a retry on the same route runs again. */
  released: boolean;
}

export interface ReceiptSighting {
  source: string;
  webhookId: string;
  bodySha256: string;
  target: string;
}

export interface ReceiptAnswer {
  source: string;
  webhookId: string;
  statusCode: number;
  response: unknown;
}

/**
 * Makes the statement's own transaction commit without waiting for the WAL
 * flush (`synchronous_commit = off` for it alone). A receipt lost to a
 * server crash only lets a repeat of its request run again, and every signed
 * request is idempotent; the change the request makes commits durably, and
 * its flush covers the receipt written before it. Saves one disk flush per
 * signed request, twice.
 */
const ASYNC_COMMIT = `(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit`;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');
const isDirty = (text: string) => text.includes('\0') || LONE_SURROGATE.test(text);
const clean = (text: string) => text.replace(LONE_SURROGATES, '\ufffd').replaceAll('\0', '\\u0000');

/**
 * An answer as JSON that jsonb can hold. jsonb refuses a NUL and a lone
 * UTF-16 surrogate, and either can be echoed from a request's field names in
 * a 400, so a NUL is stored spelled out (the six characters \u0000) and a
 * lone surrogate as U+FFFD, in keys and values alike; everything else is
 * stored as JSON.stringify writes it.
 */
export function storableJson(value: unknown): string {
  return JSON.stringify(value ?? null, (_key, item: unknown) => {
    if (typeof item === 'string') return isDirty(item) ? clean(item) : item;
    if (item !== null && typeof item === 'object' && !Array.isArray(item) && Object.keys(item).some(isDirty)) {
      return Object.fromEntries(Object.entries(item).map(([key, entry]) => [clean(key), entry]));
    }
    return item;
  });
}

/** Replay records of signed requests (`webhook_receipts`). */
@Injectable()
export class WebhookReceiptsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Records first sightings, several in one statement; for each, false when
   * its id was already seen (by an earlier request, or earlier in the list).
   * Rows go in key order, so two processes inserting overlapping batches
   * wait for each other in the same order instead of deadlocking.
   */
  async claim(sightings: ReceiptSighting[]): Promise<boolean[]> {
    const rows: { source: string; webhook_id: string }[] = await this.dataSource.query(
      `INSERT INTO webhook_receipts (source, webhook_id, body_sha256, target)
       SELECT s.source, s.webhook_id, s.body_sha256, s.target
       FROM ${ASYNC_COMMIT},
         unnest($1::varchar[], $2::varchar[], $3::char(64)[], $4::varchar[]) WITH ORDINALITY AS s (source, webhook_id, body_sha256, target, n)
       ORDER BY s.source, s.webhook_id, s.n
       ON CONFLICT DO NOTHING RETURNING source, webhook_id`,
      [
        sightings.map((s) => s.source),
        sightings.map((s) => s.webhookId),
        sightings.map((s) => s.bodySha256),
        sightings.map((s) => s.target),
      ],
    );
    const inserted = new Set(rows.map((row) => `${row.source}\n${row.webhook_id}`));
    // Of copies of one id in the list, the first is the one inserted.
    return sightings.map((s) => inserted.delete(`${s.source}\n${s.webhookId}`));
  }

  async find(source: string, webhookId: string): Promise<Receipt | null> {
    const rows: Receipt[] = await this.dataSource.query(
      `SELECT body_sha256 AS "bodySha256", target, status_code AS "statusCode", response, released
       FROM webhook_receipts WHERE source = $1 AND webhook_id = $2`,
      [source, webhookId],
    );
    return rows[0] ?? null;
  }

  /** Stores the answers of first requests, several in one statement. */
  async complete(answers: ReceiptAnswer[]): Promise<void> {
    await this.dataSource.query(
      `UPDATE webhook_receipts r SET status_code = a.status_code, response = a.response
       FROM ${ASYNC_COMMIT}, unnest($1::varchar[], $2::varchar[], $3::int[], $4::jsonb[]) AS a (source, webhook_id, status_code, response)
       WHERE r.source = a.source AND r.webhook_id = a.webhook_id`,
      [
        answers.map((a) => a.source),
        answers.map((a) => a.webhookId),
        answers.map((a) => a.statusCode),
        answers.map((a) => storableJson(a.response)),
      ],
    );
  }

  /** Takes over a first attempt that never answered (its process died, or it could not release). */
  async takeOverAbandoned(source: string, webhookId: string, olderThanSeconds: number): Promise<boolean> {
    const [rows]: ChangedRows = await this.dataSource.query(
      `UPDATE webhook_receipts SET created_at = now()
       WHERE source = $1 AND webhook_id = $2 AND status_code IS NULL AND created_at < now() - make_interval(secs => $3)
       RETURNING webhook_id`,
      [source, webhookId, olderThanSeconds],
    );
    return rows.length === 1;
  }

  /**
   * Lets a retry run again after a failure on our side or a rate limit. The receipt is kept, with its
   * body and route, so the same message can be retried there and nowhere else.
   */
  async release(source: string, webhookId: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE webhook_receipts SET released = true FROM ${ASYNC_COMMIT} WHERE source = $1 AND webhook_id = $2 AND status_code IS NULL`,
      [source, webhookId],
    );
  }

  /** Takes a released receipt for its retry: true for one caller only. */
  async retake(source: string, webhookId: string): Promise<boolean> {
    const [rows]: ChangedRows = await this.dataSource.query(
      `UPDATE webhook_receipts SET released = false, created_at = now()
       WHERE source = $1 AND webhook_id = $2 AND released AND status_code IS NULL
       RETURNING webhook_id`,
      [source, webhookId],
    );
    return rows.length === 1;
  }
}
