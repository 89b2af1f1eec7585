import { expect } from '@jest/globals';
import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis } from 'ioredis';
import pg from 'pg';
import { eventually } from '../../support/eventually.js';
import { freePort } from '../../support/free-port.js';
import { PrivatePostgres } from '../../support/private-postgres.js';
import { PrivateRedis } from '../../support/private-redis.js';
import { PrivateRedisCluster } from '../../support/private-redis-cluster.js';
import { ServiceProcess } from '../../support/service-process.js';
import { ADMIN_KEY, DRIVER_SECRET, VENDURE_SECRET } from '../../support/test-app.js';
import { WebhookReceiver } from '../../support/webhook-receiver.js';
import { BooksReport, checkBooks, waitForGeoToMatch, waitForOutboxDrained } from './books.js';
import { LoadStream, LoadStreamOptions, RequestRecord, StreamDriver } from './load-stream.js';

export const CENTRE = { lat: 52.52, lon: 13.405 };
export const HEARTBEAT_TTL_SECONDS = 60;
/** Short waits between webhook attempts, and many of them, so that no message is dead-lettered during a fault. */
export const FAST_RETRY_SCHEDULE = ['0', ...Array(19).fill('1')].join(',');

export interface HarnessOptions {
  /** Service processes sharing PostgreSQL and Redis (as PM2 cluster workers). */
  services: number;
  /** Drivers registered through the API, each with its token. */
  drivers: number;
  /** Extra environment for every service process. */
  env?: Record<string, string>;
  /** A Redis Cluster of this many masters instead of a single redis-server. */
  redisClusterMasters?: number;
  /** Replicas per master of that cluster (0 by default). */
  redisClusterReplicas?: number;
}

interface PhaseMark {
  name: string;
  record: number;
  webhook: number;
  at: number;
}

/** An operation (not a location report): orders, cancellations, delivery moves. */
export const isOperation = (r: RequestRecord) => r.kind !== 'location';

/**
 * Everything one fault scenario runs on, all of its own so it can be broken
 * at will: a private PostgreSQL cluster and a private redis-server (both on
 * free ports; the shared servers on 5432 and 6379 are never touched), a real
 * webhook receiver standing in for Vendure, the built service in `services`
 * forked processes (dist/src/main.js, as PM2 runs it), and a fleet of drivers
 * registered through the API. Also: the load stream, and phase marks that
 * turn its records into the counts table every scenario prints.
 */
export class FaultHarness {
  readonly postgres = new PrivatePostgres();
  readonly redisServer = new PrivateRedis();
  /** Set when the scenario runs on a Redis Cluster (`redisClusterMasters`); then `redisServer` is not started. */
  readonly redisCluster?: PrivateRedisCluster;
  readonly receiver = new WebhookReceiver(VENDURE_SECRET);
  sql!: pg.Pool;
  /** Sees the service's keys as it names them (`drivers:geo`), on either kind of Redis. */
  redis!: Redis | Cluster;
  readonly ports: number[] = [];
  /** The current process of each slot. */
  readonly services: ServiceProcess[] = [];
  private readonly everyProcess: ServiceProcess[] = [];
  drivers: StreamDriver[] = [];
  /** Drivers that can never be chosen: offline, inactive, stale; all at the centre, nearer than anyone. */
  neverChosen: string[] = [];
  stream?: LoadStream;
  private readonly phases: PhaseMark[] = [];

  constructor(private readonly options: HarnessOptions) {
    if (options.redisClusterMasters) {
      this.redisCluster = new PrivateRedisCluster(options.redisClusterMasters, options.redisClusterReplicas ?? 0);
    }
  }

  get bases(): string[] {
    return this.ports.map((port) => `http://127.0.0.1:${port}`);
  }

  async setUp(): Promise<void> {
    await this.postgres.start();
    if (this.redisCluster) await this.redisCluster.start();
    else await this.redisServer.start();
    await this.receiver.start();
    this.sql = new pg.Pool({ connectionString: this.postgres.url, max: 3 });
    // The tests stop PostgreSQL under the pool's idle connections: their errors are expected.
    this.sql.on('error', () => undefined);
    this.redis = this.redisCluster?.client() ?? new Redis(this.redisServer.url, { maxRetriesPerRequest: 1, retryStrategy: () => 200 });
    this.redis.on('error', () => undefined);

    for (let slot = 0; slot < this.options.services; slot++) this.ports.push(await freePort());
    // Together, on an empty database: they take turns at the migrations.
    await Promise.all(this.ports.map((_, slot) => this.startService(slot)));
    await this.registerFleet();
    await eventually(async () => (await this.redis.exists('drivers:synced')) === 1, {
      what: 'the first reconciliation',
      timeoutMs: 20_000,
    });
  }

  async tearDown(): Promise<void> {
    await this.stream?.stop().catch(() => undefined);
    for (const service of this.everyProcess) {
      if (service.child.exitCode !== null || service.child.signalCode !== null) continue;
      const code = await Promise.race([service.stop(), sleep(15_000, 'hung' as const, { ref: false })]);
      if (code === 'hung') {
        service.child.kill('SIGKILL');
        await service.exited;
      }
    }
    await this.receiver.close().catch(() => undefined);
    this.redis?.disconnect();
    await this.redisServer.stop();
    await this.redisCluster?.stop();
    await this.sql?.end().catch(() => undefined);
    await this.postgres.destroy();
  }

  serviceEnv(slot: number): Record<string, string> {
    return {
      PORT: String(this.ports[slot]),
      DATABASE_URL: this.postgres.url,
      ...(this.redisCluster ? { REDIS_CLUSTER_NODES: this.redisCluster.nodesVariable } : { REDIS_URL: this.redisServer.url }),
      VENDURE_WEBHOOK_SECRET: VENDURE_SECRET,
      VENDURE_WEBHOOK_URL: this.receiver.url,
      DRIVER_WEBHOOK_SECRET: DRIVER_SECRET,
      ADMIN_API_KEY: ADMIN_KEY,
      LOG_LEVEL: 'warn',
      DRIVER_HEARTBEAT_TTL_SECONDS: String(HEARTBEAT_TTL_SECONDS),
      WEBHOOK_RETRY_SCHEDULE_SECONDS: FAST_RETRY_SCHEDULE,
      RECONCILE_INTERVAL_SECONDS: '5',
      ...this.options.env,
    };
  }

  /** Starts (or restarts) the service process of `slot`, on its port; resolves once it is ready. */
  async startService(slot: number): Promise<ServiceProcess> {
    const service = new ServiceProcess(this.serviceEnv(slot));
    this.services[slot] = service;
    this.everyProcess.push(service);
    await service.ready();
    return service;
  }

  /** SIGKILL: no shutdown, no flush, no goodbye. */
  async killService(slot: number): Promise<void> {
    const service = this.services[slot];
    service.child.kill('SIGKILL');
    await service.exited;
  }

  /** A load stream over every slot (dead ones included: clients do not know) and the fleet. */
  startStream(options: Partial<LoadStreamOptions> & { orderPrefix: string }): LoadStream {
    this.stream = new LoadStream({
      targets: this.bases,
      drivers: this.drivers,
      vendureSecret: VENDURE_SECRET,
      centre: CENTRE,
      ...options,
    });
    this.stream.start();
    return this.stream;
  }

  /** Starts a phase of the counts table (the previous one ends here). */
  phase(name: string): void {
    this.phases.push({ name, record: this.stream?.mark() ?? 0, webhook: this.receiver.requests.length, at: Date.now() });
  }

  /** Records answered since the phase `name` started, until the next phase. */
  recordsOf(name: string): RequestRecord[] {
    const i = this.phases.findIndex((p) => p.name === name);
    if (i < 0 || !this.stream) return [];
    const end = this.phases[i + 1]?.record ?? this.stream.records.length;
    return this.stream.records.slice(this.phases[i].record, end);
  }

  /** The counts of every phase, as a compact table (printed with console.log by the scenarios). */
  countsTable(title: string): string {
    const records = this.stream?.records ?? [];
    const columns = [
      'phase',
      's',
      'sent',
      'loc',
      '2xx',
      '4xx',
      '503',
      '5xx',
      'no ans',
      'assigned',
      'no drv',
      'wh recv',
      'wh 2xx',
      'wh 5xx',
      'wh hung',
    ];
    const rows = this.phases.map((p, i) => {
      const next = this.phases[i + 1];
      const slice = records.slice(p.record, next?.record ?? records.length);
      const hooks = this.receiver.requests.slice(p.webhook, next?.webhook ?? this.receiver.requests.length);
      const status = (test: (s: number) => boolean) => slice.filter((r) => typeof r.status === 'number' && test(r.status)).length;
      return [
        p.name,
        (((next?.at ?? Date.now()) - p.at) / 1000).toFixed(1),
        slice.length,
        slice.filter((r) => r.kind === 'location').length,
        status((s) => s >= 200 && s < 300),
        status((s) => s >= 400 && s < 500),
        status((s) => s === 503),
        status((s) => s >= 500 && s !== 503),
        slice.filter((r) => typeof r.status !== 'number').length,
        slice.filter((r) => r.outcome === 'assigned').length,
        slice.filter((r) => r.outcome === 'no-driver').length,
        hooks.length,
        hooks.filter((r) => typeof r.answered === 'number' && r.answered < 300).length,
        hooks.filter((r) => typeof r.answered === 'number' && r.answered >= 500).length,
        hooks.filter((r) => r.answered === 'hang').length,
      ].map(String);
    });
    const totals = columns.map((_, c) =>
      c === 0
        ? 'total'
        : c === 1
          ? rows.reduce((s, r) => s + Number(r[1]), 0).toFixed(1)
          : String(rows.reduce((s, r) => s + Number(r[c]), 0)),
    );
    const table = [columns, ...rows, totals];
    const widths = columns.map((_, c) => Math.max(...table.map((row) => row[c].length)));
    const line = (row: string[]) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join(' | ');
    return [
      `${title} (seed ${this.stream?.seed})`,
      line(columns),
      widths.map((w) => '-'.repeat(w)).join('-|-'),
      ...rows.map(line),
      line(totals),
    ].join('\n');
  }

  /**
   * Ends the load (live deliveries stay live), waits until the outbox is
   * delivered and processed by the receiver, and checks the books.
   */
  async settle(outboxTimeoutMs = 60_000): Promise<BooksReport> {
    await this.stream?.stop();
    this.phase('settle');
    await waitForOutboxDrained(this.sql, this.receiver, outboxTimeoutMs);
    return checkBooks(this.sql, this.receiver, { assignments: this.stream?.assignments, neverChosen: this.neverChosen });
  }

  /**
   * After Redis comes back (restarted, or answering again): waits for the
   * reconciliation that marks it synced, lets 30 operations through, then
   * holds orders and moves (heartbeats go on) until drivers:geo equals
   * PostgreSQL's choosable drivers, lets 20 more through, and settles.
   */
  async redisRepaired(
    stream: LoadStream,
    what: string,
  ): Promise<{ sets: Awaited<ReturnType<typeof waitForGeoToMatch>>; books: BooksReport }> {
    await eventually(async () => (await this.redis.exists('drivers:synced')) === 1, { what, timeoutMs: 20_000 });
    await stream.answered(stream.mark(), 30, isOperation);
    this.phase('paused');
    await stream.pause();
    const sets = await waitForGeoToMatch(this.sql, this.redis, HEARTBEAT_TTL_SECONDS);
    stream.resume();
    this.phase('after');
    await stream.answered(stream.mark(), 20, isOperation);
    return { sets, books: await this.settle() };
  }

  /**
   * What a Redis fault must leave behind once Redis is repaired: every request
   * answered 200 with no anomaly, assignments made during `phase` (the fault
   * itself), no never-choosable driver in `drivers:geo`, and the books right.
   */
  expectRedisFaultSurvived(
    stream: LoadStream,
    phase: string,
    { sets, books }: { sets: Awaited<ReturnType<typeof waitForGeoToMatch>>; books: BooksReport },
  ): void {
    const notOk = stream.records.filter((r) => r.status !== 200);
    if (notOk.length > 0) console.error(notOk.slice(0, 10), this.troubleInLogs());
    expect(notOk).toEqual([]);
    expect(stream.anomalies).toEqual([]);
    expect(this.recordsOf(phase).filter((r) => r.outcome === 'assigned').length).toBeGreaterThan(0);
    expect(sets.geo.some((id) => this.neverChosen.includes(id))).toBe(false);
    expect(books.problems).toEqual([]);
    expect(books.deliveries).toBeGreaterThan(0);
  }

  /** The counts table and the books, in one console.log. */
  print(title: string, books?: BooksReport): void {
    const { problems, ...counts } = books ?? { problems: [] };
    const summary = books
      ? `books: ${Object.entries(counts)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}; problems ${problems.length}`
      : '';
    console.log(`${this.countsTable(title)}
${summary}`);
  }

  /** Error and warning lines the service processes logged, to explain a failure. */
  troubleInLogs(limit = 30): string[] {
    return this.everyProcess
      .flatMap((s) => (s.stderr + s.stdout).split('\n'))
      .filter((line) => /"level":"(error|fatal)"|\bERROR\b|Unhandled|uncaught/i.test(line))
      .slice(0, limit);
  }

  /** Admin request to one service process. */
  async admin(slot: number, method: string, path: string, body?: object): Promise<{ status: number; body: unknown }> {
    const response = await fetch(`${this.bases[slot]}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: response.status, body: await response.json().catch(() => undefined) };
  }

  private async registerFleet(): Promise<void> {
    const base = randomInt(1_000_000, 9_000_000);
    for (let i = 0; i < this.options.drivers; i++) {
      const created = await this.admin(0, 'POST', '/drivers', {
        name: `Fault driver ${i}`,
        phone: `+49157${base + i}`,
        vehicleType: 'bicycle',
      });
      if (created.status !== 201) throw new Error(`POST /drivers answered ${created.status} ${JSON.stringify(created.body)}`);
      const { id, token } = created.body as { id: string; token: string };
      const driver: StreamDriver = {
        id,
        token,
        lat: CENTRE.lat + (Math.random() - 0.5) * 0.06,
        lon: CENTRE.lon + (Math.random() - 0.5) * 0.1,
      };
      const headers = { authorization: `Bearer ${driver.token}`, 'content-type': 'application/json' };
      const located = await fetch(`${this.bases[0]}/drivers/${driver.id}/location`, {
        method: 'PATCH',
        headers,
        body: JSON.stringify({ lat: driver.lat, lon: driver.lon }),
      });
      const available = await fetch(`${this.bases[0]}/drivers/${driver.id}/status`, {
        method: 'PATCH',
        headers,
        body: JSON.stringify({ status: 'AVAILABLE' }),
      });
      if (located.status !== 200 || available.status !== 200)
        throw new Error(`could not put driver ${driver.id} on duty: ${located.status}, ${available.status}`);
      this.drivers.push(driver);
    }
    // Drivers nearer to every pickup than anyone, who can never be chosen: one OFFLINE, one
    // deactivated, one whose heartbeat is an hour old. Straight into PostgreSQL, as operators' data.
    const { rows } = await this.sql.query(
      `INSERT INTO drivers (name, phone, token_hash, status, is_active, last_lat, last_lon, last_location_at, last_seen_at)
       VALUES ('Decoy offline', $1, md5(random()::text) || md5(random()::text), 'OFFLINE', true, $4, $5, now(), now()),
              ('Decoy inactive', $2, md5(random()::text) || md5(random()::text), 'AVAILABLE', false, $4, $5, now(), now()),
              ('Decoy stale', $3, md5(random()::text) || md5(random()::text), 'AVAILABLE', true, $4, $5, now() - interval '1 hour', now() - interval '1 hour')
       RETURNING id`,
      [`+49158${base}1`, `+49158${base}2`, `+49158${base}3`, CENTRE.lat, CENTRE.lon],
    );
    this.neverChosen = rows.map((r: { id: string }) => r.id);
  }
}
