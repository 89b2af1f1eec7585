import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import pg from 'pg';
import { encodeState } from '../src/fleet/driver-state.js';
import { CHOOSABLE } from '../src/fleet/state-mirror.scripts.js';
import { createTestDatabase, testRedisUrl } from './support/databases.js';
import { startTestApp } from './support/test-app.js';

/** Runs the Lua rule on one driver as Redis holds it; an empty argument stands for a missing entry. */
const LUA_PROBE = `${CHOOSABLE}
local state = ARGV[1] ~= '' and ARGV[1] or false
local location = ARGV[2] ~= '' and ARGV[2] or false
return choosable(state, location, tonumber(ARGV[3]), tonumber(ARGV[4])) and 1 or 0
`;

const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);

/**
 * The choosable rule is stated once for PostgreSQL (`driver_is_choosable`,
 * fleet.sql) and once in Lua for the scripts that keep the GEO set
 * (CHOOSABLE): the two agree on every kind of driver, edges included.
 */
describe('the choosable rule: PostgreSQL and Redis agree', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let sql: pg.Client;
  let redis: Redis;

  beforeAll(async () => {
    database = await createTestDatabase('choosable_rule');
    // The service applies the migrations and the routine files.
    await (await startTestApp({ DATABASE_URL: database.url })).close();
    sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
    redis = new Redis(testRedisUrl());
  });
  afterAll(async () => {
    redis?.disconnect();
    await sql?.end();
    await database?.drop();
  });

  const driverArb = fc.record({
    status: fc.constantFrom('AVAILABLE', 'BUSY', 'OFFLINE'),
    isActive: fc.boolean(),
    stateVersion: fc.nat({ max: 1_000 }),
    located: fc.boolean(),
    /** The last heartbeat relative to the cutoff, ms (null: never heard from); 0 is exactly at it. */
    seenMs: fc.option(fc.oneof(fc.constantFrom(-1, 0, 1), fc.integer({ min: -600_000, max: 600_000 }))),
  });

  it('on generated drivers', async () => {
    const cutoff = NOW - 60_000;
    const seen = { choosable: 0, not: 0 };
    await fc.assert(
      fc.asyncProperty(driverArb, async (driver) => {
        const lastSeen = driver.seenMs === null ? null : new Date(cutoff + driver.seenMs);
        const row = {
          status: driver.status,
          is_active: driver.isActive,
          state_version: driver.stateVersion,
          last_lat: driver.located ? 52.52 : null,
          last_lon: driver.located ? 13.405 : null,
          last_seen_at: lastSeen?.toISOString() ?? null,
        };
        const { rows } = await sql.query(`SELECT driver_is_choosable(jsonb_populate_record(NULL::drivers, $1::jsonb), $2) AS choosable`, [
          JSON.stringify(row),
          new Date(cutoff).toISOString(),
        ]);
        const inLua = await redis.eval(
          LUA_PROBE,
          0,
          encodeState(driver),
          driver.located ? `13.405 52.52 ${NOW}` : '',
          lastSeen === null ? '' : String(lastSeen.getTime()),
          String(cutoff),
        );
        const inSql = rows[0].choosable === true;
        seen[inSql ? 'choosable' : 'not'] += 1;
        expect({ driver, lua: inLua === 1 }).toEqual({ driver, lua: inSql });
      }),
      { numRuns: 400 },
    );
    // Both answers were explored.
    expect(seen.choosable).toBeGreaterThan(5);
    expect(seen.not).toBeGreaterThan(5);
  });
});
