// @ts-check
/**
 * The resolution of the availability index's cells, and the search over
 * them, measured before the index is split (docs/design-notes.md,
 * "Sharding the availability index"). On the bench's own Redis, beside the
 * service's keys: the positions of a dense fleet (the bench's Berlin
 * drivers) and of a sparse one (1,000 drivers over Hamburg's 900 km²) in one
 * GEO key, today's layout, and, for each H3 resolution measured, in one GEO
 * key per cell. From each of 2,000 random points of the city, in turn (so
 * that the machine's drift hits all alike), 15 candidates (a limit of 10 and
 * the margin of 5) are searched:
 * - over the one key, with the widening search of the service's
 *   SEARCH_NEAREST (the same radii);
 * - over the cells each radius covers, the same way (`widening`; every cell
 *   read with one GEOSEARCH per radius, the hits merged nearest first);
 * - over the cells, nearest first (`adaptive`): the cells within 5 km in order
 *   of how near a driver in them may be (`cellsWithin`, loaded from dist/),
 *   within a first bound that the density of the point's own cell says holds
 *   twice the window (doubled while the window comes short), shrinking to the
 *   farthest candidate kept once it is full; a cell beyond it ends the
 *   search.
 * Each in one script, as the cells of one shard would be read (on a cluster
 * a search's cells span shards, one script each, so the bound cannot shrink
 * across them: these figures are the single shard's); heartbeats are left
 * out on every side (they cost the same). Searches that come short within
 * 5 km go on to 10 km; beyond that the design sends them to PostgreSQL.
 *
 * Rows, per resolution and fleet: Redis' time inside the adaptive script per
 * search (`TIME` at its start and end: the parsing of its keys and arguments
 * is left out, a few microseconds for 30 cells), against the one key's. Per
 * resolution: how the dense fleet's cells would spread over the 3 masters
 * of a cluster, and over 18 (the capacity model's count), each cell's key
 * hash-tagged by itself (the busiest master's share of the drivers against
 * an even share). The log adds the widening search
 * over cells, the cells each search read and the bench process' time to
 * compute the covers.
 */
import { cellArea } from 'h3-js';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BERLIN, HAMBURG } from './city.mjs';
import { plainRow, ratioRow } from './compare.mjs';
import { cpuBetween, cpuSnapshot } from './cpu.mjs';
import { closedLoop } from './load-runner.mjs';
import { log } from './report.mjs';
import { ROOT } from './service.mjs';
import { fixed, median, percentile } from './stats.mjs';

/** @typedef {import('./bench-context.mjs').Bench} Bench */
/** @typedef {import('./report.mjs').Row} Row */
/** @typedef {{ id: string, lat: number, lon: number }} Position */
/** @typedef {{ micros: number, read: number, found: number, coverMicros: number }} Search */

const RESOLUTIONS = [5, 6, 7];
const SEARCHES = 2_000;
const CANDIDATES = 15;
const SPARSE_FLEET = 1_000;
/** The masters of the cluster figures, and the shards of the capacity model. */
const SHARDS = [3, 18];
const PREFIX = 'bench:cells:';
/** A cell's key, hash-tagged by itself as the split layout's are. */
const cellKey = (/** @type {string} */ cell, /** @type {string} */ part) => `${PREFIX}{c:${cell}}:${part}`;

/**
 * A script that returns the microseconds Redis spent in `body` (which sets
 * `read`, the keys it read, and `found`, the candidates it found), then those.
 * @param {string} body
 */
const timed = (body) => `
local started = redis.call('TIME')
local read, found = 0, 0
${body}
local ended = redis.call('TIME')
return { (ended[1] - started[1]) * 1000000 + (ended[2] - started[2]), read, found }
`;

/**
 * A widening search over GEO keys: per radius, every key given for it with
 * one GEOSEARCH, the hits merged nearest first; stops at the first radius
 * that fills the window, as SEARCH_NEAREST does.
 * ARGV: lon, lat, count, then per radius: radius (km), n, then n indexes into KEYS.
 */
const SEARCH_WIDENING = timed(`
local count = tonumber(ARGV[3])
local hits = {}
local i = 4
while i <= #ARGV do
  local radius, n = ARGV[i], tonumber(ARGV[i + 1])
  hits = {}
  for k = i + 2, i + 1 + n do
    read = read + 1
    for _, hit in ipairs(redis.call('GEOSEARCH', KEYS[tonumber(ARGV[k])], 'FROMLONLAT', ARGV[1], ARGV[2], 'BYRADIUS', radius, 'km', 'ASC', 'COUNT', count, 'WITHDIST')) do
      hits[#hits + 1] = { hit[1], tonumber(hit[2]) }
    end
  end
  i = i + 2 + n
  if #hits >= count then break end
end
table.sort(hits, function(a, b) return a[2] < b[2] end)
found = math.min(#hits, count)
`);

/**
 * The nearest-first search with a first bound from the density of the
 * point's own cell (KEYS[1]): a radius expected to hold twice the window,
 * were its drivers spread evenly, and no less than a floor (200 m; on a
 * second pass, the first pass' radius); doubled while the window comes short
 * (each round reading the cells again), up to the radius given.
 * KEYS: the cells, nearest first
 * ARGV: lon, lat, count, radius (km), area of KEYS[1] (km²), floor (km), then per cell: how near it may be (km).
 */
const SEARCH_ADAPTIVE = timed(`
local count, radius = tonumber(ARGV[3]), tonumber(ARGV[4])
local drivers = redis.call('ZCARD', KEYS[1])
local bound = math.min(radius, math.max(tonumber(ARGV[6]), math.sqrt(2 * count * tonumber(ARGV[5]) / (math.pi * math.max(1, drivers)))))
local best = {}
while true do
  best = {}
  for i = 1, #KEYS do
    local within = #best >= count and best[count][2] or bound
    if tonumber(ARGV[6 + i]) > within then break end
    read = read + 1
    for _, hit in ipairs(redis.call('GEOSEARCH', KEYS[i], 'FROMLONLAT', ARGV[1], ARGV[2], 'BYRADIUS', within, 'km', 'ASC', 'COUNT', count, 'WITHDIST')) do
      best[#best + 1] = { hit[1], tonumber(hit[2]) }
    end
    table.sort(best, function(a, b) return a[2] < b[2] end)
    for k = #best, count + 1, -1 do best[k] = nil end
  end
  if #best >= count or bound >= radius then break end
  bound = math.min(radius, bound * 2)
end
found = #best
`);

/**
 * A ping's write to its cell in the split layout, as a prototype: the
 * generation check (a cell refuses what is not newer than what it holds),
 * the driver's position and its heartbeat in the cell. One call a ping: on
 * a cluster each cell is a slot of its own, so a script cannot take the
 * pings of several cells.
 * KEYS: the cell's geo, heartbeats, generations     ARGV: id, lon, lat, seenMs, generation
 */
const CELL_WRITE = `
local held = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '-1')
if tonumber(ARGV[5]) <= held then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[5])
redis.call('GEOADD', KEYS[1], ARGV[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[2], 'GT', ARGV[4], ARGV[1])
return 1
`;

/** Pings a RECORD_PINGS call carries in the service under the location figure's load (one event-loop turn's). */
const PINGS_PER_CALL = 29;
const PING_DRIVERS = 10_000;
const PING_SECONDS = 5;

/** A module of the service's build. */
const fromDist = (/** @type {string} */ path) => import(pathToFileURL(join(ROOT, 'dist/src', path)).href);

/**
 * The slot of a key whose whole name is its hash tag: CRC16 (XMODEM) of it, over 16384 slots.
 * @param {string} tag
 */
function slotOf(tag) {
  let crc = 0;
  for (const byte of Buffer.from(tag)) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16_384;
}

/**
 * The master a slot is on in a cluster of `masters` made by `redis-cli --cluster create`, which gives
 * each master a run of 16384 / masters slots, rounded (0-5460, 5461-10922, 10923-16383 for 3).
 * @param {number} slot
 * @param {number} masters
 */
function masterOf(slot, masters) {
  const perMaster = 16_384 / masters;
  for (let i = 0; i < masters - 1; i++) if (slot <= Math.round(perMaster * (i + 1) - 1)) return i;
  return masters - 1;
}

/**
 * Runs every script call of a pipeline, and throws the first error one met: a failed call must not be counted.
 * @param {import('ioredis').ChainableCommander} pipeline
 */
async function execAll(pipeline) {
  for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
}

/**
 * What a ping costs Redis, by layout (the capacity model's Redis rows): the
 * service's own RECORD_PINGS (from dist/), on drivers of its own, with the
 * 29 pings of a turn in one call as the service sends them; with one ping a
 * call, as in the split layout, whose home buckets are slots of their own
 * (the pings of one turn then rarely share one), the turn's 29 calls in one
 * write as a pipeline to a shard would send them; and the prototype cell
 * write that the split layout adds to each ping, sent the same way. Redis'
 * CPU (from /proc) per ping, closed loops of 8 writes in flight from the
 * bench process, three rounds of 5 s in turn, medians. The home script is
 * today's, whose GEOADD the split layout would leave to the cell: adding the
 * two overstates the split a little.
 * @param {Bench} bench
 * @param {(lat: number, lon: number) => string} cellOf
 * @returns {Promise<Row[]>}
 */
async function pingCosts(bench, cellOf) {
  const { RECORD_PINGS } = await fromDist('availability/availability.scripts.js');
  const { redis } = bench;
  const key = (/** @type {string} */ name) => `${PREFIX}pings:${name}`;
  const ids = Array.from({ length: PING_DRIVERS }, (_, i) => `ping-${i}`);
  const homeKeys = [key('geo'), key('status'), key('heartbeat'), key('location')];
  /** @type {Set<string>} */
  const written = new Set([...homeKeys, ...ids.map((id) => key(`online:${id}`))]);
  let next = 0;
  /** The keys and arguments of RECORD_PINGS for pings of `count` drivers, each a point somewhere in Berlin. */
  const pings = (/** @type {number} */ count) => {
    const keys = [...homeKeys];
    /** @type {Array<string | number>} */ const args = [];
    const now = Date.now();
    for (let i = 0; i < count; i++) {
      const id = ids[next++ % ids.length];
      const at = BERLIN.randomPoint();
      keys.push(key(`online:${id}`), '', '');
      args.push(id, now, 60, 0, 0, 0, 0, 1, at.lon, at.lat, now, 1, '-', '-', '-');
    }
    return [keys.length, ...keys, ...args];
  };
  let generation = 0;
  /** The keys and arguments of the cell write of a ping somewhere in Berlin. */
  const cellWrite = () => {
    const id = ids[next++ % ids.length];
    const at = BERLIN.randomPoint();
    const cell = cellOf(at.lat, at.lon);
    const keys = [cellKey(cell, 'geo'), cellKey(cell, 'heartbeat'), cellKey(cell, 'generation')];
    for (const k of keys) written.add(k);
    return [3, ...keys, id, at.lon, at.lat, Date.now(), ++generation];
  };
  const names = [
    `RECORD_PINGS, ${PINGS_PER_CALL} pings a call`,
    `RECORD_PINGS, 1 ping a call, ${PINGS_PER_CALL} calls a write`,
    `cell write, 1 ping a call, ${PINGS_PER_CALL} calls a write`,
  ];
  /** @type {Record<string, number[]>} */
  const micros = {};
  try {
    await redis.hset(key('status'), Object.fromEntries(ids.map((id) => [id, 'AVAILABLE:1:1'])));
    // By SHA, as the service sends its scripts: EVAL would have Redis hash the script's text at every call.
    const [recordPings, writeCell] = /** @type {string[]} */ (
      await Promise.all([RECORD_PINGS, CELL_WRITE].map((lua) => redis.script('LOAD', lua)))
    );
    /** `calls` script calls in one write, as a turn's calls to one shard go. */
    const pipelined = (/** @type {string} */ sha, /** @type {number} */ calls, /** @type {() => Array<string | number>} */ argsOf) => {
      const pipeline = redis.pipeline();
      for (let i = 0; i < calls; i++) pipeline.evalsha(sha, .../** @type {[number, ...Array<string | number>]} */ (argsOf()));
      return execAll(pipeline);
    };
    const sides = {
      [names[0]]: () => pipelined(recordPings, 1, () => pings(PINGS_PER_CALL)),
      [names[1]]: () => pipelined(recordPings, PINGS_PER_CALL, () => pings(1)),
      [names[2]]: () => pipelined(writeCell, PINGS_PER_CALL, cellWrite),
    };
    for (let round = 0; round < 3; round++) {
      for (const [name, task] of Object.entries(sides)) {
        const before = cpuSnapshot();
        const m = await closedLoop({ concurrency: 8, seconds: PING_SECONDS, task });
        const cpu = cpuBetween(before, cpuSnapshot());
        // Redis' CPU for a failed write would be charged to the pings that did go through.
        if (m.errors > 0) throw new Error(`cells: ${name}: ${m.errors} writes failed`);
        const done = m.count * PINGS_PER_CALL;
        if (cpu) (micros[name] ??= []).push((cpu.seconds.Redis * 1e6) / done);
        log(
          `cells: ${name}: ${fixed(done / m.seconds, 0)} pings/s, Redis ${cpu ? fixed((cpu.seconds.Redis * 1e6) / done, 1) : 'n/a'} µs a ping`,
        );
      }
    }
  } finally {
    await redis.unlink(...written);
  }
  const [batched, single, cell] = names.map((name) => median(micros[name] ?? []));
  return [
    ratioRow(
      `Redis CPU per ping: RECORD_PINGS with 1 ping a call, ${PINGS_PER_CALL} calls a write (the split layout's home script) vs ${PINGS_PER_CALL} pings a call (today's)`,
      'µs',
      single,
      batched,
      { text: 'measured', holds: () => Number.isFinite(single) },
    ),
    ratioRow(
      `Redis CPU per ping: the split layout's cell write (prototype, 1 ping a call, ${PINGS_PER_CALL} calls a write) vs RECORD_PINGS with ${PINGS_PER_CALL} pings a call`,
      'µs',
      cell,
      batched,
      { text: 'measured', holds: () => Number.isFinite(cell) },
    ),
  ];
}

/** @param {Bench} bench @returns {Promise<Row[]>} */
export async function cellFigures(bench) {
  const { cellOf, cellsWithin } = await fromDist('availability/cells.js');
  const { redisSearchRadiusKm, searchRadiiKm } = await fromDist('availability/geo.js');
  const { redis } = bench;
  /** @type {number[]} */
  const radii = searchRadiiKm(10).map(redisSearchRadiusKm);
  /** The radii of a search's first call, and of its second when the first came short. */
  const passes = [radii.filter((r) => r <= 5.1), radii.filter((r) => r > 5.1)];
  const fleets = [
    { name: `${BERLIN.name} ${bench.berlin.length} drivers`, city: BERLIN, drivers: bench.berlin },
    {
      name: `${HAMBURG.name} ${SPARSE_FLEET} drivers`,
      city: HAMBURG,
      drivers: Array.from({ length: SPARSE_FLEET }, (_, i) => ({ id: `sparse-${i}`, ...HAMBURG.randomPoint() })),
    },
  ];
  const evaluate = /** @type {(lua: string, keys: string[], args: Array<string | number>) => Promise<[number, number, number]>} */ (
    (lua, keys, args) => /** @type {any} */ (redis).eval(lua, keys.length, ...keys, ...args)
  );
  /** @type {Set<string>} */
  const written = new Set();
  /** Fills GEO keys: `keyOf` names each driver's key. */
  const fill = async (/** @type {Position[]} */ drivers, /** @type {(d: { lat: number, lon: number }) => string} */ keyOf) => {
    for (let start = 0; start < drivers.length; start += 5_000) {
      const pipeline = redis.pipeline();
      for (const d of drivers.slice(start, start + 5_000)) {
        const key = keyOf(d);
        written.add(key);
        pipeline.geoadd(key, d.lon, d.lat, d.id);
      }
      await execAll(pipeline);
    }
  };

  /**
   * A search in up to two calls, the second only when the first came short (as a service would, computing
   * the wider covers only then); `call` gives a pass' script, keys and arguments.
   * `coverMicros` is the first pass' time to compute its covers.
   * @param {(radii: number[], previous: number[] | undefined) => { lua: string, keys: string[], args: Array<string | number> }} call
   * @returns {Promise<Search>}
   */
  async function inPasses(call) {
    const started = process.hrtime.bigint();
    const result = { micros: 0, read: 0, found: 0, coverMicros: 0 };
    for (const [i, pass] of passes.entries()) {
      const { lua, keys, args } = call(pass, passes[i - 1]);
      if (i === 0) result.coverMicros = Number(process.hrtime.bigint() - started) / 1_000;
      const [spent, read, found] = await evaluate(lua, keys, args);
      Object.assign(result, { micros: result.micros + spent, read: result.read + read, found });
      if (found >= CANDIDATES) break;
    }
    return result;
  }

  /**
   * The widening search: `cover` gives a radius' keys.
   * @param {{ lat: number, lon: number }} at
   * @param {(lat: number, lon: number, km: number) => string[]} cover
   */
  const widening = (at, cover) =>
    inPasses((pass) => {
      /** @type {string[]} */ const keys = [];
      /** @type {Map<string, number>} */ const index = new Map();
      /** @type {Array<string | number>} */ const args = [at.lon, at.lat, CANDIDATES];
      for (const km of pass) {
        const cells = cover(at.lat, at.lon, km);
        args.push(km, cells.length);
        for (const key of cells) {
          if (!index.has(key)) index.set(key, keys.push(key));
          args.push(/** @type {number} */ (index.get(key)));
        }
      }
      return { lua: SEARCH_WIDENING, keys, args };
    });

  /**
   * The adaptive search over the cells of `resolution`, whose keys `keyOf` names.
   * @param {{ lat: number, lon: number }} at
   * @param {number} resolution
   * @param {(cell: string) => string} keyOf
   */
  const adaptive = (at, resolution, keyOf) =>
    inPasses((pass, previous) => {
      const km = /** @type {number} */ (pass.at(-1));
      /** @type {Array<{ cell: string, nearestMeters: number }>} */
      const cover = cellsWithin(at.lat, at.lon, km * 1000, resolution);
      const floor = previous?.at(-1) ?? 0.2;
      const args = [at.lon, at.lat, CANDIDATES, km, cellArea(cover[0].cell, 'km2'), floor, ...cover.map((c) => c.nearestMeters / 1000)];
      return { lua: SEARCH_ADAPTIVE, keys: cover.map((c) => keyOf(c.cell)), args };
    });

  /**
   * Runs SEARCHES searches from random points of the fleet's city, every layout's search from each
   * point, in an order that rotates, so that the machine's drift hits all alike.
   * @param {typeof fleets[0]} fleet
   * @param {Record<string, (at: { lat: number, lon: number }) => Promise<Search>>} runs
   */
  const measure = async (fleet, runs) => {
    const names = Object.keys(runs);
    /** @type {Record<string, Search[]>} */
    const results = Object.fromEntries(names.map((name) => [name, []]));
    for (let n = 0; n < SEARCHES; n++) {
      const at = fleet.city.randomPoint();
      for (let i = 0; i < names.length; i++) {
        const name = names[(n + i) % names.length];
        results[name].push(await runs[name](at));
      }
    }
    return Object.fromEntries(
      Object.entries(results).map(([name, all]) => {
        const micros = all.map((r) => r.micros);
        const read = all.map((r) => r.read);
        const summary = {
          p50: median(micros),
          p99: percentile(micros, 99),
          readP50: median(read),
          readMax: Math.max(...read),
          coverMicros: median(all.map((r) => r.coverMicros)),
          short: all.filter((r) => r.found < CANDIDATES).length,
        };
        return [name, summary];
      }),
    );
  };
  /** @typedef {{ p50: number, p99: number, readP50: number, readMax: number, coverMicros: number, short: number }} Summary */
  const describeResult = (/** @type {Summary} */ r) =>
    `${fixed(r.p50, 0)} µs in Redis a search (p50; p99 ${fixed(r.p99, 0)}), keys read p50 ${fixed(r.readP50, 0)} max ${r.readMax}, ` +
    `covers ${fixed(r.coverMicros, 0)} µs in the bench process, ${r.short} searches short of ${CANDIDATES} within 10 km`;

  /** @type {Row[]} */
  const rows = [];
  try {
    for (const fleet of fleets) {
      // Each resolution's cells under keys of their own (a prefix per resolution), the one key beside them.
      const one = `${PREFIX}one:${fleet.city.name}`;
      const inCell = (/** @type {number} */ resolution, /** @type {string} */ cell) => cellKey(`${resolution}:${cell}`, 'geo');
      await fill(fleet.drivers, () => one);
      for (const resolution of RESOLUTIONS) await fill(fleet.drivers, (d) => inCell(resolution, cellOf(d.lat, d.lon, resolution)));
      /** @type {Parameters<typeof measure>[1]} */
      const runs = { 'one key': (at) => widening(at, () => [one]) };
      for (const resolution of RESOLUTIONS) {
        runs[`${resolution} widening`] = (at) =>
          widening(at, (lat, lon, km) =>
            cellsWithin(lat, lon, km * 1000, resolution).map((/** @type {{ cell: string }} */ c) => inCell(resolution, c.cell)),
          );
        runs[`${resolution} adaptive`] = (at) => adaptive(at, resolution, (cell) => inCell(resolution, cell));
      }
      const results = await measure(fleet, runs);
      for (const [name, result] of Object.entries(results)) log(`cells: ${fleet.name}, ${name}: ${describeResult(result)}`);
      for (const resolution of RESOLUTIONS) {
        const result = results[`${resolution} adaptive`];
        rows.push(
          ratioRow(
            `nearest over H3 cells of resolution ${resolution} vs one GEO key, ${fleet.name}: Redis µs per search, p50 (cells read: p50 ${fixed(result.readP50, 0)}, max ${result.readMax})`,
            'µs',
            result.p50,
            results['one key'].p50,
            { text: 'measured', holds: () => result.short === 0 },
          ),
        );
      }
    }
    for (const resolution of RESOLUTIONS) {
      const perCell = new Map();
      for (const d of bench.berlin) {
        const cell = cellOf(d.lat, d.lon, resolution);
        perCell.set(cell, (perCell.get(cell) ?? 0) + 1);
      }
      const spread = SHARDS.map((shards) => {
        const perShard = Array.from({ length: shards }, () => 0);
        for (const [cell, drivers] of perCell) perShard[masterOf(slotOf(`c:${cell}`), shards)] += drivers;
        return `${shards} shards: busiest ${fixed((Math.max(...perShard) * shards) / bench.berlin.length, 2)}x an even share`;
      });
      rows.push(
        plainRow(
          `H3 resolution ${resolution}: ${BERLIN.name}'s ${bench.berlin.length} drivers over a cluster's shards (cells hash-tagged one by one)`,
          `${perCell.size} cells, up to ${Math.max(...perCell.values())} drivers in one; ${spread.join(', ')}`,
          'measured',
          true,
        ),
      );
    }
  } finally {
    if (written.size > 0) await redis.unlink(...written);
  }
  rows.push(...(await pingCosts(bench, (lat, lon) => cellOf(lat, lon))));
  return rows;
}
