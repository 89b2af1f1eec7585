import { beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { eventually } from './support/eventually.js';
import { insertDrivers, scatter } from './support/fleet.js';
import { useServiceCluster } from './support/service-cluster.js';
import type { ServiceProcess } from './support/service-process.js';
import { ADMIN_KEY } from './support/test-app.js';

/** Large enough that one reconciliation takes a while, so the two processes' timers meet one under way. */
const FLEET = 30_000;
const SWEEP_LOCK_MS = 900;

interface Run {
  process: number;
  start: number;
  end: number;
}

/** Reconciliation runs from a process's log: from its start line to the line that ends it, whatever the outcome. */
function reconciliations(stdout: string, process: number): Run[] {
  const runs: Run[] = [];
  let start: number | undefined;
  for (const line of stdout.split('\n').filter((l) => l.includes('Reconcil'))) {
    const entry = JSON.parse(line) as { timestamp: string; message: string };
    const at = Date.parse(entry.timestamp);
    if (entry.message === 'Reconciliation started') start = at;
    else if (start !== undefined && /^Reconcil(ed |iation incomplete|iation failed)/.test(entry.message)) {
      runs.push({ process, start, end: at });
      start = undefined;
    }
  }
  return runs;
}

async function counters(base: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const found: Record<string, number> = {};
  for (const match of text.matchAll(/^background_job_runs_total\{job="(\w+)",outcome="(\w+)"\} (\d+)/gm)) {
    found[`${match[1]}:${match[2]}`] = Number(match[3]);
  }
  return found;
}

const total = (all: Array<Record<string, number>>, key: string) => all.reduce((sum, one) => sum + (one[key] ?? 0), 0);

/**
 * Two built service processes on one PostgreSQL and one Redis, as PM2 runs
 * them: both run the reconciliation and sweep timers, but the cluster does
 * each piece of work once — never two reconciliations at the same time, at
 * most one sweep per second.
 */
describe('background work across two service processes (as under PM2)', () => {
  const cluster = useServiceCluster('cluster_jobs', {
    processes: 2,
    // Heartbeats that outlive the file: on a slow machine the seeded fleet would otherwise expire (60 s) and be swept from the index.
    env: { ADMIN_API_KEY: ADMIN_KEY, RECONCILE_INTERVAL_SECONDS: '1', LOG_LEVEL: 'debug', DRIVER_HEARTBEAT_TTL_SECONDS: '86400' },
    seed: async (sql) => {
      await insertDrivers(sql, scatter(FLEET, { lat: 52.52, lon: 13.405 }, 30), { status: 'AVAILABLE' });
    },
  });
  let redis: Redis;
  let services: ServiceProcess[];
  let bases: string[];

  beforeAll(() => {
    ({ redis, services, bases } = cluster);
  });

  it('reconciles the whole fleet, and never runs two reconciliations at once', async () => {
    const runs = () => services.flatMap((service, i) => reconciliations(service.stdout, i));
    // Enough runs, from timers firing every second in both processes, that an overlap would have had every chance to happen.
    await eventually(() => runs().length >= 6, { what: 'six reconciliations across the two processes', timeoutMs: 60_000 });
    expect(total(await Promise.all(bases.map(counters)), 'reconcile:skipped')).toBeGreaterThan(0);
    expect(await redis.zcard('drivers:geo')).toBe(FLEET);
    expect(await redis.exists('drivers:synced')).toBe(1);

    const all = runs().sort((a, b) => a.start - b.start);
    for (const line of services.map((service) => service.stdout)) {
      for (const entry of line.split('\n').filter((l) => l.includes('Reconciled '))) expect(entry).toContain(`Reconciled ${FLEET} drivers`);
    }
    // Sorted by start, each run ends before the next one starts.
    for (let i = 1; i < all.length; i++) expect(all[i].start).toBeGreaterThanOrEqual(all[i - 1].end);
  });

  it('sweeps at most once per sweep period across the cluster, though both processes try', async () => {
    const before = await Promise.all(bases.map(counters));
    const startedAt = Date.now();
    await eventually(async () => total(await Promise.all(bases.map(counters)), 'sweep:ran') - total(before, 'sweep:ran') >= 5, {
      what: 'five sweeps',
      timeoutMs: 30_000,
    });
    const after = await Promise.all(bases.map(counters));
    const elapsed = Date.now() - startedAt;

    const ran = total(after, 'sweep:ran') - total(before, 'sweep:ran');
    const skipped = total(after, 'sweep:skipped') - total(before, 'sweep:skipped');
    // Each process's timer fires every second, so two processes would sweep about twice per second unguarded.
    expect(ran).toBeLessThanOrEqual(Math.ceil(elapsed / SWEEP_LOCK_MS) + 1);
    expect(skipped).toBeGreaterThan(0);
  });
});
