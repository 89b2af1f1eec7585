import type { Redis } from 'ioredis';
import type pg from 'pg';

/**
 * Snapshots of everything the service keeps, for the fuzz suite's "a rejected
 * request changes nothing" check.
 *
 * PostgreSQL: every base table of the public schema (found at run time, so a
 * new table is covered without editing this file), as its row count and the
 * md5 of its rows in a fixed order. `webhook_receipts` is kept apart: a signed
 * request that passed its signature check stores a receipt even when it is
 * then refused (see `receiptsOf`).
 *
 * Redis: every key with its whole value (strings, hashes, sets, sorted sets
 * with scores, lists), TTLs left out (they only count down), except the
 * background jobs' own lock keys listed in REDIS_BACKGROUND_KEYS.
 */
export const RECEIPTS_TABLE = 'webhook_receipts';

/**
 * Keys written by timers, not by requests: `drivers:swept` is the lock the
 * heartbeat sweeper sets every second (SWEEP_EVERY_MS) for one sweep period,
 * `drivers:reconciling` the lease of a reconciliation under way. Both come and
 * go on their own, whatever the requests do.
 */
export const REDIS_BACKGROUND_KEYS = new Set(['drivers:swept', 'drivers:reconciling']);

export interface DatabaseSnapshot {
  tables: Record<string, { rows: number; md5: string }>;
}

export async function applicationTables(sql: pg.Client): Promise<string[]> {
  const { rows } = await sql.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables
     WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`,
  );
  return rows.map((row) => row.name);
}

/**
 * Row count and md5 of every table. For webhook_receipts, the receipts
 * `leaveOut` (source, webhook-id) are left out, and created_at is not
 * compared (a take-over of an abandoned claim may move it): a snapshot taken
 * after a batch, leaving out the receipts the batch was expected to add,
 * equals the one taken before exactly when nothing else changed.
 */
export async function snapshotDatabase(
  sql: pg.Client,
  tables: string[],
  leaveOut: Array<{ source: string; id: string }> = [],
): Promise<DatabaseSnapshot> {
  const parts = tables
    .filter((table) => table !== RECEIPTS_TABLE)
    .map(
      (table) =>
        `SELECT '${table}' AS name, count(*)::int AS rows, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS md5 FROM "${table}" t`,
    );
  if (tables.includes(RECEIPTS_TABLE)) {
    parts.push(
      `SELECT '${RECEIPTS_TABLE}' AS name, count(*)::int AS rows,
              md5(coalesce(string_agg(concat_ws('|', source, webhook_id, body_sha256, status_code, response::text), E'\\n'
                  ORDER BY source, webhook_id), '')) AS md5
       FROM ${RECEIPTS_TABLE}
       WHERE (source, webhook_id) NOT IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
    );
  }
  const params = tables.includes(RECEIPTS_TABLE) ? [leaveOut.map((r) => r.source), leaveOut.map((r) => r.id)] : [];
  const { rows } = await sql.query<{ name: string; rows: number; md5: string }>(parts.join(' UNION ALL '), params);
  return { tables: Object.fromEntries(rows.map((row) => [row.name, { rows: row.rows, md5: row.md5 }])) };
}

export interface ReceiptRow {
  source: string;
  webhookId: string;
  bodySha256: string;
  statusCode: number | null;
  response: unknown;
}

export async function receiptsOf(sql: pg.Client, keys: Array<{ source: string; id: string }>): Promise<ReceiptRow[]> {
  if (keys.length === 0) return [];
  const { rows } = await sql.query<ReceiptRow>(
    `SELECT source, webhook_id AS "webhookId", body_sha256 AS "bodySha256", status_code AS "statusCode", response
     FROM ${RECEIPTS_TABLE} WHERE (source, webhook_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
    [keys.map((k) => k.source), keys.map((k) => k.id)],
  );
  return rows;
}

export type RedisSnapshot = Record<string, unknown>;

export async function snapshotRedis(redis: Redis): Promise<RedisSnapshot> {
  const keys = (await redis.keys('*')).filter((key) => !REDIS_BACKGROUND_KEYS.has(key)).sort();
  const snapshot: RedisSnapshot = {};
  for (const key of keys) {
    const type = await redis.type(key);
    switch (type) {
      case 'string':
        snapshot[key] = await redis.get(key);
        break;
      case 'hash':
        snapshot[key] = await redis.hgetall(key);
        break;
      case 'set':
        snapshot[key] = (await redis.smembers(key)).sort();
        break;
      case 'zset':
        snapshot[key] = await redis.zrange(key, 0, -1, 'WITHSCORES');
        break;
      case 'list':
        snapshot[key] = await redis.lrange(key, 0, -1);
        break;
      case 'none':
        break; // expired between KEYS and TYPE
      default:
        snapshot[key] = `<${type}>`;
    }
  }
  return snapshot;
}
