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
 * Each in one script, as the cells of one shard would be read; heartbeats
 * are left out on every side (they cost the same).
 *
 * Rows, per resolution and fleet: Redis' time inside the adaptive script per
 * search (`TIME` at its start and end), against the one key's. Per
 * resolution: how the dense fleet's cells would spread over the 3 masters
 * of a cluster, each cell's key hash-tagged by itself (the busiest master's
 * share of the drivers; a third is even). The log adds the widening search
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

const RESOLUTIONS = [5, 6, 7];
const SEARCHES = 2_000;
const CANDIDATES = 15;
const SPARSE_FLEET = 1_000;
const MASTERS = 3;
const PREFIX = 'bench:cells:';

/**
 * A widening search over GEO keys: per radius, every key given for it with
 * one GEOSEARCH, the hits merged nearest first; stops at the first radius
 * that fills the window, as SEARCH_NEAREST does.
 * ARGV: lon, lat, count, then per radius: radius (km), n, then n indexes into KEYS.
 * Returns the microseconds spent, the keys read, the candidates found.
 */
const SEARCH_KEYS = `
local started = redis.call('TIME')
local count = tonumber(ARGV[3])
local found, read = {}, 0
local i = 4
while i <= #ARGV do
  local radius, n = ARGV[i], tonumber(ARGV[i + 1])
  found = {}
  for k = i + 2, i + 1 + n do
    read = read + 1
    for _, hit in ipairs(redis.call('GEOSEARCH', KEYS[tonumber(ARGV[k])], 'FROMLONLAT', ARGV[1], ARGV[2], 'BYRADIUS', radius, 'km', 'ASC', 'COUNT', count, 'WITHDIST')) do
      found[#found + 1] = { hit[1], tonumber(hit[2]) }
    end
  end
  i = i + 2 + n
  if #found >= count then break end
end
table.sort(found, function(a, b) return a[2] < b[2] end)
local ended = redis.call('TIME')
return { (ended[1] - started[1]) * 1000000 + (ended[2] - started[2]), read, math.min(#found, count) }
`;

/**
 * The nearest-first search with a first bound from the density of the
 * point's own cell (KEYS[1]): a radius expected to hold twice the window,
 * were its drivers spread evenly; doubled while the window comes short
 * (each round reading the cells again), up to the radius given.
 * KEYS: the cells, nearest first     ARGV: lon, lat, count, radius (km), area of KEYS[1] (km²), then per cell: how near it may be (km).
 * Returns the microseconds spent, the keys read, the candidates found.
 */
const SEARCH_ADAPTIVE = `
local started = redis.call('TIME')
local count, radius = tonumber(ARGV[3]), tonumber(ARGV[4])
local drivers = redis.call('ZCARD', KEYS[1])
local bound = math.min(radius, math.max(0.2, math.sqrt(2 * count * tonumber(ARGV[5]) / (math.pi * math.max(1, drivers)))))
local best, read = {}, 0
while true do
  best = {}
  for i = 1, #KEYS do
    local within = #best >= count and best[count][2] or bound
    if tonumber(ARGV[5 + i]) > within then break end
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
local ended = redis.call('TIME')
return { (ended[1] - started[1]) * 1000000 + (ended[2] - started[2]), read, #best }
`;

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
if tonumber(ARGV[5]) < held then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[5])
redis.call('GEOADD', KEYS[1], ARGV[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[2], 'GT', ARGV[4], ARGV[1])
return 1
`;

/** Pings a RECORD_PINGS call carries in the service under the location figure's load (one event-loop turn's). */
const PINGS_PER_CALL = 29;
const PING_DRIVERS = 10_000;
const PING_SECONDS = 5;

/**
 * What a ping costs Redis, by layout (the capacity model's Redis rows): the
 * service's own RECORD_PINGS (from dist/), on drivers of its own, with the
 * 29 pings of a turn in one call as the service sends them; with one ping a
 * call, as in the split layout, whose home buckets are slots of their own
 * (the pings of one turn then rarely share one), the turn's 29 calls in one
 * write as a pipeline to a shard would send them; and the prototype cell
 * write that the split layout adds to each ping, sent the same way. Redis'
 * CPU (from /proc) per ping, closed loops of 8 writes in flight from the
 * bench process, three alternating rounds of 5 s, medians.
 * @param {Bench} bench
 * @param {{ cellOf: (lat: number, lon: number) => string }} cells
 * @returns {Promise<Row[]>}
 */
async function pingCosts(bench, { cellOf }) {
  const { RECORD_PINGS } = await import(pathToFileURL(join(ROOT, 'dist/src/availability/availability.scripts.js')).href);
  const { redis } = bench;
  const key = (/** @type {string} */ name) => `${PREFIX}pings:${name}`;
  const ids = Array.from({ length: PING_DRIVERS }, (_, i) => `ping-${i}`);
  await redis.hset(key('status'), Object.fromEntries(ids.map((id) => [id, 'AVAILABLE:1:1'])));
  const homeKeys = [key('geo'), key('status'), key('heartbeat'), key('location')];
  // By SHA, as the service sends its scripts: EVAL would have Redis hash the script's text at every call.
  const [recordPings, writeCell] = /** @type {string[]} */ (
    await Promise.all([RECORD_PINGS, CELL_WRITE].map((lua) => redis.script('LOAD', lua)))
  );
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
    const cell = `{c:${cellOf(at.lat, at.lon)}}`;
    return [
      3,
      `${PREFIX}${cell}:geo`,
      `${PREFIX}${cell}:heartbeat`,
      `${PREFIX}${cell}:generation`,
      id,
      at.lon,
      at.lat,
      Date.now(),
      ++generation,
    ];
  };
  /** `calls` script calls in one write, as a turn's calls to one shard go. */
  const pipelined = async (/** @type {string} */ sha, /** @type {number} */ calls, /** @type {() => Array<string | number>} */ argsOf) => {
    const pipeline = redis.pipeline();
    for (let i = 0; i < calls; i++) pipeline.evalsha(sha, .../** @type {[number, ...Array<string | number>]} */ (argsOf()));
    await pipeline.exec();
  };
  const sides = {
    [`RECORD_PINGS, ${PINGS_PER_CALL} pings a call`]: {
      perTask: PINGS_PER_CALL,
      task: () => pipelined(recordPings, 1, () => pings(PINGS_PER_CALL)),
    },
    [`RECORD_PINGS, 1 ping a call, ${PINGS_PER_CALL} calls a write`]: {
      perTask: PINGS_PER_CALL,
      task: () => pipelined(recordPings, PINGS_PER_CALL, () => pings(1)),
    },
    [`cell write, 1 ping a call, ${PINGS_PER_CALL} calls a write`]: {
      perTask: PINGS_PER_CALL,
      task: () => pipelined(writeCell, PINGS_PER_CALL, cellWrite),
    },
  };
  /** @type {Record<string, number[]>} */
  const micros = Object.fromEntries(Object.keys(sides).map((name) => [name, []]));
  try {
    for (let round = 0; round < 3; round++) {
      for (const [name, side] of Object.entries(sides)) {
        const before = cpuSnapshot();
        const m = await closedLoop({ concurrency: 8, seconds: PING_SECONDS, task: side.task });
        const cpu = cpuBetween(before, cpuSnapshot());
        const done = m.count * side.perTask;
        if (cpu) micros[name].push((cpu.seconds.Redis * 1e6) / done);
        log(
          `cells: ${name}: ${fixed(done / m.seconds, 0)} pings/s, Redis ${cpu ? fixed((cpu.seconds.Redis * 1e6) / done, 1) : 'n/a'} µs a ping`,
        );
      }
    }
  } finally {
    const cellKeys = await redis.keys(`${PREFIX}{c:*`);
    await redis.unlink(...homeKeys, ...ids.map((id) => key(`online:${id}`)), ...cellKeys);
  }
  const [batched, single, cell] = Object.keys(sides).map((name) => median(micros[name]));
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

/**
 * CRC16 (XMODEM), Redis Cluster's key hash.
 * @param {string} text
 */
function crc16(text) {
  let crc = 0;
  for (const byte of Buffer.from(text)) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The master of an evenly split cluster (as `redis-cli --cluster create` splits it) a cell's key lands on. */
const masterOf = (/** @type {string} */ cell) => Math.floor(((crc16(`c:${cell}`) % 16_384) * MASTERS) / 16_384);

/** @param {Bench} bench @returns {Promise<Row[]>} */
export async function cellFigures(bench) {
  const load = async (/** @type {string} */ path) => import(pathToFileURL(join(ROOT, 'dist/src', path)).href);
  const { cellOf, cellsWithin } = await load('availability/cells.js');
  const { redisSearchRadiusKm, searchRadiiKm } = await load('availability/geo.js');
  const { redis } = bench;
  /** @type {number[]} */
  const radii = searchRadiiKm(100).map(redisSearchRadiusKm);
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
  /** Fills GEO keys: `keyOf` names each driver's key. @returns {Promise<string[]>} the keys written */
  const fill = async (/** @type {Position[]} */ drivers, /** @type {(d: { lat: number, lon: number }) => string} */ keyOf) => {
    const keys = new Set();
    for (let start = 0; start < drivers.length; start += 5_000) {
      const pipeline = redis.pipeline();
      for (const d of drivers.slice(start, start + 5_000)) {
        const key = keyOf(d);
        keys.add(key);
        pipeline.geoadd(key, d.lon, d.lat, d.id);
      }
      await pipeline.exec();
    }
    return [...keys];
  };

  /**
   * The widening search, in two calls at most: the radii up to 5 km, then the wider ones only when the
   * first came short (as a service would, computing the wide covers only then). `cover` gives a radius' keys.
   * @param {{ lat: number, lon: number }} at
   * @param {(lat: number, lon: number, km: number) => string[]} cover
   */
  async function widening(at, cover) {
    const started = process.hrtime.bigint();
    const result = { micros: 0, read: 0, found: 0, coverMicros: 0 };
    for (const group of [radii.filter((r) => r <= 5.1), radii.filter((r) => r > 5.1)]) {
      /** @type {string[]} */ const keys = [];
      /** @type {Map<string, number>} */ const index = new Map();
      /** @type {Array<string | number>} */ const args = [at.lon, at.lat, CANDIDATES];
      for (const km of group) {
        const cells = cover(at.lat, at.lon, km);
        args.push(km, cells.length);
        for (const key of cells) {
          if (!index.has(key)) index.set(key, keys.push(key));
          args.push(/** @type {number} */ (index.get(key)));
        }
      }
      if (result.coverMicros === 0) result.coverMicros = Number(process.hrtime.bigint() - started) / 1_000;
      const [spent, read, found] = await evaluate(SEARCH_KEYS, keys, args);
      Object.assign(result, { micros: result.micros + spent, read: result.read + read, found });
      if (found >= CANDIDATES) break;
    }
    return result;
  }

  /**
   * The adaptive search: the cells within 5 km, then, when it came short, those within 100 km.
   * @param {{ lat: number, lon: number }} at
   * @param {number} resolution
   * @param {(cell: string) => string} keyOf
   */
  async function adaptive(at, resolution, keyOf) {
    const started = process.hrtime.bigint();
    const result = { micros: 0, read: 0, found: 0, coverMicros: 0 };
    for (const km of [radii.find((r) => r > 5), radii.at(-1)]) {
      /** @type {Array<{ cell: string, nearestMeters: number }>} */
      const cover = cellsWithin(at.lat, at.lon, /** @type {number} */ (km) * 1000, resolution);
      const area = cellArea(cover[0].cell, 'km2');
      if (result.coverMicros === 0) result.coverMicros = Number(process.hrtime.bigint() - started) / 1_000;
      const args = [at.lon, at.lat, CANDIDATES, /** @type {number} */ (km), area, ...cover.map((c) => c.nearestMeters / 1000)];
      const [spent, read, found] = await evaluate(
        SEARCH_ADAPTIVE,
        cover.map((c) => keyOf(c.cell)),
        args,
      );
      Object.assign(result, { micros: result.micros + spent, read: result.read + read, found });
      if (found >= CANDIDATES) break;
    }
    return result;
  }

  /**
   * Runs SEARCHES searches from random points of the fleet's city, every layout's search from each
   * point in turn, so that the machine's drift hits all alike.
   * @param {typeof fleets[0]} fleet
   * @param {Record<string, (at: { lat: number, lon: number }) => Promise<{ micros: number, read: number, found: number, coverMicros: number }>>} runs
   */
  const measure = async (fleet, runs) => {
    /** @type {Record<string, Array<{ micros: number, read: number, found: number, coverMicros: number }>>} */
    const results = Object.fromEntries(Object.keys(runs).map((name) => [name, []]));
    for (let n = 0; n < SEARCHES; n++) {
      const at = fleet.city.randomPoint();
      for (const [name, run] of Object.entries(runs)) results[name].push(await run(at));
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
    `covers ${fixed(r.coverMicros, 0)} µs in the bench process, ${r.short} searches short of ${CANDIDATES}`;

  /** @type {Row[]} */
  const rows = [];
  /** @type {string[]} */
  const keys = [];
  const keyOf = (/** @type {number} */ resolution, /** @type {string} */ cell) => `${PREFIX}r${resolution}:${cell}`;
  try {
    for (const fleet of fleets) {
      const one = `${PREFIX}one:${fleet.city.name}`;
      keys.push(...(await fill(fleet.drivers, () => one)));
      for (const resolution of RESOLUTIONS)
        keys.push(...(await fill(fleet.drivers, (d) => keyOf(resolution, cellOf(d.lat, d.lon, resolution)))));
      /** @type {Parameters<typeof measure>[1]} */
      const runs = { 'one key': (at) => widening(at, () => [one]) };
      for (const resolution of RESOLUTIONS) {
        const inCell = (/** @type {string} */ cell) => keyOf(resolution, cell);
        runs[`${resolution} widening`] = (at) =>
          widening(at, (lat, lon, km) =>
            cellsWithin(lat, lon, km * 1000, resolution).map((/** @type {{ cell: string }} */ c) => inCell(c.cell)),
          );
        runs[`${resolution} adaptive`] = (at) => adaptive(at, resolution, inCell);
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
      const perMaster = Array.from({ length: MASTERS }, () => 0);
      for (const [cell, drivers] of perCell) perMaster[masterOf(cell)] += drivers;
      const busiest = Math.max(...perMaster) / bench.berlin.length;
      rows.push(
        plainRow(
          `H3 resolution ${resolution}: ${BERLIN.name}'s ${bench.berlin.length} drivers over ${MASTERS} masters (cells hash-tagged one by one)`,
          `${perCell.size} cells, up to ${Math.max(...perCell.values())} drivers in one; busiest master ${fixed(busiest * 100, 0)} % of the drivers`,
          'measured',
          true,
        ),
      );
    }
  } finally {
    if (keys.length > 0) await redis.unlink(...keys);
  }
  rows.push(...(await pingCosts(bench, { cellOf })));
  return rows;
}
