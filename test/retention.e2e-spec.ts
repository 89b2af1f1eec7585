import { afterAll, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { LoggerService } from '@nestjs/common';
import pg from 'pg';
import { MetricsService } from '../src/metrics/metrics.service.js';
import { RETENTION_LOCK_KEY, RetentionRepository } from '../src/retention/retention.repository.js';
import { RETENTION_BATCH_SIZE, RetentionService } from '../src/retention/retention.service.js';
import { RECEIPT_KEEP_SECONDS } from '../src/signed-requests/signed-request-replay.service.js';
import { createTestDatabase } from './support/databases.js';
import { startTestApp, TestApp } from './support/test-app.js';

const DAY = 86_400;

interface MessageCase {
  status: 'pending' | 'delivered' | 'failed';
  /** Ages in seconds. */
  createdAgo: number;
  deliveredAgo?: number;
  failedAgo?: number;
}

/** Every kind of outbox row, with RETENTION_DAYS at its default of 14; only `deliveredLong` has expired. */
const MESSAGES = {
  deliveredLong: { status: 'delivered', createdAgo: 15 * DAY + 60, deliveredAgo: 15 * DAY },
  deliveredRecently: { status: 'delivered', createdAgo: 13 * DAY + 60, deliveredAgo: 13 * DAY },
  // Created long ago, delivered just now (a late retry, or an operator's resend): kept 14 days from its delivery.
  deliveredLate: { status: 'delivered', createdAgo: 20 * DAY, deliveredAgo: 3_600 },
  // With a delivered_at as old as the expired ones', so that only their status keeps them.
  pendingLong: { status: 'pending', createdAgo: 30 * DAY, deliveredAgo: 15 * DAY },
  failedLong: { status: 'failed', createdAgo: 30 * DAY, deliveredAgo: 15 * DAY, failedAgo: 15 * DAY },
} satisfies Record<string, MessageCase>;
type MessageLabel = keyof typeof MESSAGES;

/** Receipts either side of the replay window's end; only `expired` ones go, answered or not. */
const RECEIPTS = {
  expired: { ageSeconds: RECEIPT_KEEP_SECONDS + 30, answered: true },
  expiredUnanswered: { ageSeconds: RECEIPT_KEEP_SECONDS + 30, answered: false },
  fresh: { ageSeconds: RECEIPT_KEEP_SECONDS - 30, answered: true },
} as const;
type ReceiptLabel = keyof typeof RECEIPTS;

/**
 * The retention job on a real PostgreSQL, run directly (not by its timer) in
 * two instances of the service sharing one database without Redis, as two
 * PM2 workers would.
 */
describe(RetentionService.name, () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let sql: pg.Client;
  let deliveryId: string;
  const apps: TestApp[] = [];
  const logged: string[] = [];
  const logger: LoggerService = {
    log: (message: unknown) => void logged.push(String(message)),
    warn() {},
    error() {},
    debug() {},
    verbose() {},
  };
  const sut = (i: number) => apps[i].app.get(RetentionService);

  async function insertMessages(label: MessageLabel, count: number): Promise<void> {
    const m: MessageCase = MESSAGES[label];
    await sql.query(
      `INSERT INTO webhook_messages (id, delivery_id, delivery_seq, type, payload, status, attempts, created_at, delivered_at, failed_at)
       SELECT 'msg_' || gen_random_uuid(), $1, g, 'delivery.cancelled', jsonb_build_object('label', $2::text), $3, 1,
              now() - make_interval(secs => $4), now() - make_interval(secs => $5), now() - make_interval(secs => $6)
       FROM generate_series(1, $7::int) AS g`,
      [deliveryId, label, m.status, m.createdAgo, m.deliveredAgo ?? null, m.failedAgo ?? null, count],
    );
  }

  async function insertReceipts(label: ReceiptLabel, count: number): Promise<void> {
    const { ageSeconds, answered } = RECEIPTS[label];
    await sql.query(
      `INSERT INTO webhook_receipts (source, webhook_id, body_sha256, status_code, response, created_at)
       SELECT 'vendure', $1 || ':' || g, repeat('0', 64), CASE WHEN $2 THEN 200 END, CASE WHEN $2 THEN '{}'::jsonb END,
              now() - make_interval(secs => $3)
       FROM generate_series(1, $4::int) AS g`,
      [label, answered, ageSeconds, count],
    );
  }

  async function remaining(): Promise<{ messages: Record<string, number>; receipts: Record<string, number> }> {
    const messages = await sql.query(`SELECT payload->>'label' AS label, count(*)::int AS n FROM webhook_messages GROUP BY 1`);
    const receipts = await sql.query(`SELECT split_part(webhook_id, ':', 1) AS label, count(*)::int AS n FROM webhook_receipts GROUP BY 1`);
    const byLabel = (rows: { label: string; n: number }[]) => Object.fromEntries(rows.map((r) => [r.label, r.n]));
    return { messages: byLabel(messages.rows), receipts: byLabel(receipts.rows) };
  }

  async function deletedCounted(table: string): Promise<number> {
    let total = 0;
    for (const t of apps) {
      const { values } = await t.app.get(MetricsService).registry.getSingleMetric('retention_deleted_rows_total')!.get();
      total += values.filter((v) => v.labels.table === table).reduce((sum, v) => sum + v.value, 0);
    }
    return total;
  }

  beforeAll(async () => {
    database = await createTestDatabase('retention');
    // Nest's loggers write to the last application's logger, so every instance here gets the same one.
    apps.push(await startTestApp({ DATABASE_URL: database.url }, { logger }));
    apps.push(await startTestApp({ DATABASE_URL: database.url }, { logger }));
    sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
    const { rows } = await sql.query(
      `INSERT INTO deliveries (seller_order_id, status, pickup_lat, pickup_lon, cancelled_at)
       VALUES ('SO-RETENTION', 'CANCELLED', 52.52, 13.405, now()) RETURNING id`,
    );
    deliveryId = rows[0].id;
  });

  beforeEach(async () => {
    await sql.query('TRUNCATE webhook_messages, webhook_receipts');
    logged.length = 0;
  });

  afterAll(async () => {
    await sql?.end();
    for (const t of apps) await t.close();
    await database?.drop();
  });

  it('two instances running it at once delete every expired row once, and nothing else', async () => {
    await insertMessages('deliveredLong', 2_500);
    for (const label of ['deliveredRecently', 'deliveredLate', 'pendingLong', 'failedLong'] as const) await insertMessages(label, 5);
    await insertReceipts('expired', 1_200);
    await insertReceipts('expiredUnanswered', 5);
    await insertReceipts('fresh', 5);
    const countedBefore = { messages: await deletedCounted('webhook_messages'), receipts: await deletedCounted('webhook_receipts') };

    const reports = await Promise.all([sut(0).run(), sut(1).run()]);

    expect(await remaining()).toEqual({
      messages: { deliveredRecently: 5, deliveredLate: 5, pendingLong: 5, failedLong: 5 },
      receipts: { fresh: 5 },
    });
    expect(reports[0].messages + reports[1].messages).toBe(2_500);
    expect(reports[0].receipts + reports[1].receipts).toBe(1_205);
    expect(await deletedCounted('webhook_messages')).toBe(countedBefore.messages + 2_500);
    expect(await deletedCounted('webhook_receipts')).toBe(countedBefore.receipts + 1_205);
  });

  it('deletes nothing while another process holds the retention lock, and everything once it is free', async () => {
    await insertMessages('deliveredLong', 3);
    await insertMessages('failedLong', 1);
    await insertReceipts('expired', 2);
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1)', [RETENTION_LOCK_KEY]);
      expect(await sut(0).run()).toEqual({ messages: 0, receipts: 0, skipped: true });
      expect(await remaining()).toEqual({ messages: { deliveredLong: 3, failedLong: 1 }, receipts: { expired: 2 } });
      await holder.query('COMMIT');
    } finally {
      await holder.end();
    }
    expect(await sut(0).run()).toEqual({ messages: 3, receipts: 2, skipped: false });
    expect(await remaining()).toEqual({ messages: { failedLong: 1 }, receipts: {} });
    expect(logged).toContain('Deleted 3 webhook messages delivered over 14 days ago and 2 expired webhook receipts');
  });

  it(`deletes in batches of ${RETENTION_BATCH_SIZE} until a batch comes back short`, async () => {
    const B = RETENTION_BATCH_SIZE;
    await insertMessages('deliveredLong', 2.5 * B);
    await insertMessages('deliveredRecently', 3);
    await insertReceipts('expired', B);
    const repository = apps[0].app.get(RetentionRepository);
    const messageBatches = jest.spyOn(repository, 'deleteDeliveredMessages');
    const receiptBatches = jest.spyOn(repository, 'deleteReceiptsOlderThan');
    try {
      expect(await sut(0).run()).toEqual({ messages: 2.5 * B, receipts: B, skipped: false });
      // A full batch is followed by another; a short one (an empty one, too) ends the table's part of the run.
      expect(await Promise.all(messageBatches.mock.results.map((r) => r.value))).toEqual([B, B, 0.5 * B]);
      expect(await Promise.all(receiptBatches.mock.results.map((r) => r.value))).toEqual([B, 0]);
      expect(messageBatches.mock.calls).toEqual([
        [14, B],
        [14, B],
        [14, B],
      ]);
      expect(receiptBatches.mock.calls).toEqual([
        [RECEIPT_KEEP_SECONDS, B],
        [RECEIPT_KEEP_SECONDS, B],
      ]);
    } finally {
      messageBatches.mockRestore();
      receiptBatches.mockRestore();
    }
    expect(await remaining()).toEqual({ messages: { deliveredRecently: 3 }, receipts: {} });
    expect(await sut(0).run()).toEqual({ messages: 0, receipts: 0, skipped: false });
  });

  it('keeps delivered messages as long as RETENTION_DAYS says', async () => {
    const longer = await startTestApp({ DATABASE_URL: database.url, RETENTION_DAYS: '16' }, { logger });
    try {
      await insertMessages('deliveredLong', 2);
      expect(await longer.app.get(RetentionService).run()).toMatchObject({ messages: 0, skipped: false });
      expect(await remaining()).toEqual({ messages: { deliveredLong: 2 }, receipts: {} });
    } finally {
      await longer.close();
    }
  });
});
