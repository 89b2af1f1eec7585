import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from './load-config.js';

const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe(loadConfig.name, () => {
  it('gives the contract defaults on an empty environment (embedded database, no Redis)', () => {
    const sut = loadConfig({});
    expect(sut.port).toBe(3001);
    expect(sut.database).toEqual({ kind: 'embedded', dataDir: './data' });
    expect(sut.redis).toEqual({ kind: 'disabled' });
    expect(sut.driverHeartbeatTtlSeconds).toBe(60);
    expect(sut.assignmentMaxRadiusKm).toBe(100);
    expect(sut.reconcileIntervalSeconds).toBe(30);
    expect(sut.logLevel).toBe('info');
    expect(sut.migrationsRun).toBe(true);
    expect(sut.corsOrigins).toEqual([]);
    expect(sut.adminApiKey).toBeUndefined();
  });

  it('gives the dispatch defaults, and keeps DRIVER_LOST_SECONDS at or above the heartbeat TTL', () => {
    expect(loadConfig({})).toMatchObject({
      dispatchMode: 'auto',
      dispatchMaxWaitSeconds: 0,
      offerTimeoutSeconds: 30,
      offerTimeoutsBeforeOffline: 2,
      driverLostSeconds: 120,
      dispatchTimerIntervalMs: 1000,
    });
    expect(loadConfig({ DRIVER_HEARTBEAT_TTL_SECONDS: '300' }).driverLostSeconds).toBe(300);
    expect(loadConfig({ DRIVER_HEARTBEAT_TTL_SECONDS: '30', DRIVER_LOST_SECONDS: '45' }).driverLostSeconds).toBe(45);
    expect(problemsOf({ DRIVER_HEARTBEAT_TTL_SECONDS: '300', DRIVER_LOST_SECONDS: '120' })).toEqual([
      'DRIVER_LOST_SECONDS: must not be below DRIVER_HEARTBEAT_TTL_SECONDS (300) (got "120")',
    ]);
    expect(problemsOf({ DISPATCH_MODE: 'manual', OFFER_TIMEOUT_SECONDS: '4', DISPATCH_MAX_WAIT_SECONDS: '86401' })).toEqual([
      'DISPATCH_MODE: must be one of auto, offer (got "manual")',
      'DISPATCH_MAX_WAIT_SECONDS: must be a whole number from 0 to 86400 (got "86401")',
      'OFFER_TIMEOUT_SECONDS: must be a whole number from 5 to 600 (got "4")',
    ]);
  });

  it('keeps serving 5 s after SIGTERM in production and none elsewhere (contract "Health, v2"), unless SHUTDOWN_GRACE_SECONDS says', () => {
    expect(loadConfig({}).shutdownGraceSeconds).toBe(0);
    expect(loadConfig({ NODE_ENV: 'test' }).shutdownGraceSeconds).toBe(0);
    expect(loadConfig({ NODE_ENV: 'production' }).shutdownGraceSeconds).toBe(5);
    expect(loadConfig({ NODE_ENV: 'production', SHUTDOWN_GRACE_SECONDS: '0' }).shutdownGraceSeconds).toBe(0);
    expect(loadConfig({ SHUTDOWN_GRACE_SECONDS: '30' }).shutdownGraceSeconds).toBe(30);
    expect(problemsOf({ SHUTDOWN_GRACE_SECONDS: '301' })).toEqual([
      'SHUTDOWN_GRACE_SECONDS: must be a whole number from 0 to 300 (got "301")',
    ]);
  });

  it('keeps delivered webhook messages 14 days unless RETENTION_DAYS says, from 1 day to 10 years', () => {
    expect(loadConfig({}).retentionDays).toBe(14);
    expect(loadConfig({ RETENTION_DAYS: '1' }).retentionDays).toBe(1);
    expect(loadConfig({ RETENTION_DAYS: ' 3650 ' }).retentionDays).toBe(3650);
    expect(problemsOf({ RETENTION_DAYS: '0' })).toEqual(['RETENTION_DAYS: must be a whole number from 1 to 3650 (got "0")']);
  });

  it('gives the tracking defaults: links an hour past the end, OpenStreetMap tiles, the base URL from PORT', () => {
    expect(loadConfig({})).toMatchObject({
      trackingLinkTtlSeconds: 3600,
      publicBaseUrl: 'http://localhost:3001',
      trackingTileUrl: 'https://tile.openstreetmap.org/{z}/{x}/{y}.png',
      trackingMaxStreamsPerLink: 5,
      trackingMaxStreams: 2000,
      trackingHeartbeatSeconds: 15,
    });
    expect(loadConfig({ PORT: '8080' }).publicBaseUrl).toBe('http://localhost:8080');
    expect(loadConfig({ PUBLIC_BASE_URL: 'https://track.example.com/' }).publicBaseUrl).toBe('https://track.example.com');
    expect(loadConfig({ TRACKING_TILE_URL: 'none' }).trackingTileUrl).toBe('');
    expect(problemsOf({ PUBLIC_BASE_URL: 'ftp://x' })).toEqual(['PUBLIC_BASE_URL: must be a http: or https: URL (got "ftp://x")']);
  });

  it('reads ETA_SPEEDS_KMH as vehicleType=km/h pairs, in lower case, keeping a default for the types it leaves out', () => {
    expect(loadConfig({}).etaSpeedsKmh).toMatchObject({ bicycle: 15, car: 22, default: 18 });
    expect(loadConfig({ ETA_SPEEDS_KMH: 'Cargo-Bike=12, car = 30.5' }).etaSpeedsKmh).toEqual({ 'cargo-bike': 12, car: 30.5, default: 18 });
    expect(loadConfig({ ETA_SPEEDS_KMH: 'car=30,default=10' }).etaSpeedsKmh).toEqual({ car: 30, default: 10 });
    for (const bad of ['car', 'car=0', 'car=301', 'car=fast', 'car=30,,bike=10', '=30']) {
      expect(problemsOf({ ETA_SPEEDS_KMH: bad }).map((p) => p.split(':')[0])).toEqual(['ETA_SPEEDS_KMH']);
    }
  });

  it('uses PostgreSQL when DATABASE_URL or DB_HOST is set', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u@h:5432/d' }).database).toMatchObject({
      kind: 'postgres',
      url: 'postgres://u@h:5432/d',
    });
    expect(loadConfig({ DB_HOST: 'db', DB_PORT: '5433', DB_NAME: 'x' }).database).toMatchObject({
      kind: 'postgres',
      host: 'db',
      port: 5433,
      database: 'x',
    });
  });

  it('uses Redis when REDIS_URL or REDIS_HOST is set', () => {
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379/2' }).redis).toMatchObject({ kind: 'redis', url: 'redis://127.0.0.1:6379/2' });
    expect(loadConfig({ REDIS_HOST: 'cache' }).redis).toMatchObject({ kind: 'redis', host: 'cache', port: 6379 });
  });

  it('uses a Redis Cluster when REDIS_CLUSTER_NODES is set', () => {
    expect(
      loadConfig({ REDIS_CLUSTER_NODES: 'r1:7000, 10.0.0.2:7001,[::1]:7002', REDIS_PASSWORD: 'pw', REDIS_KEY_PREFIX: 'shop1:' }).redis,
    ).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'r1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      password: 'pw',
      keyPrefix: 'shop1:',
    });
  });

  it.each([['r1'], ['r1:'], ['r1:7000,'], ['r1:0'], ['r1:70000'], ['redis://r1:7000']])('refuses REDIS_CLUSTER_NODES=%s', (value) => {
    expect(problemsOf({ REDIS_CLUSTER_NODES: value })).toEqual([
      `REDIS_CLUSTER_NODES: must be a comma-separated list of host:port (port from 1 to 65535) (got ${JSON.stringify(value)})`,
    ]);
  });

  it('refuses a Redis Cluster and a single Redis at once', () => {
    expect(problemsOf({ REDIS_CLUSTER_NODES: 'r1:7000', REDIS_URL: 'redis://r2:6379' })).toEqual([
      'REDIS_CLUSTER_NODES: names a Redis Cluster; leave REDIS_URL unset (it names a single Redis) (got "r1:7000")',
    ]);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['NODE_ENV', 'staging'],
    ['LOG_LEVEL', 'verbose'],
    ['DB_PORT', '-1'],
    ['DB_POOL_SIZE', '1'],
    ['DB_SYNCHRONIZE', 'true'],
    ['DB_SYNCHRONIZE', 'maybe'],
    ['DB_MIGRATIONS_RUN', 'sometimes'],
    ['DATABASE_URL', 'mysql://x'],
    ['REDIS_URL', 'http://x'],
    ['VENDURE_WEBHOOK_URL', 'ftp://x'],
    ['VENDURE_WEBHOOK_SECRET', 'plain'],
    ['VENDURE_WEBHOOK_SECRET', `whsec_${Buffer.alloc(8).toString('base64')}`],
    ['DRIVER_WEBHOOK_SECRET', `whsec_${Buffer.alloc(65).toString('base64')}`],
    ['ADMIN_API_KEY', 'short'],
    ['ADMIN_API_KEY', 'a key with spaces that is long enough to pass'],
    ['METRICS_TOKEN', 'tiny'],
    ['DRIVER_HEARTBEAT_TTL_SECONDS', '0'],
    ['ASSIGNMENT_MAX_RADIUS_KM', '101'],
    ['ASSIGNMENT_MAX_RADIUS_KM', 'far'],
    ['RECONCILE_INTERVAL_SECONDS', '1.5'],
    ['DRIVER_TOKEN_CACHE_TTL_MS', '60001'],
    ['RETENTION_DAYS', '3651'],
    ['RETENTION_DAYS', '7.5'],
    ['RETENTION_DAYS', '-1'],
    ['RETENTION_DAYS', 'forever'],
  ])('refuses %s=%s, naming the variable', (name, value) => {
    const problems = problemsOf({ [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${name}: `));
  });

  it('refuses one secret for two callers, naming the second and printing neither', () => {
    const other = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
    expect(problemsOf({ VENDURE_WEBHOOK_SECRET: SECRET, DRIVER_WEBHOOK_SECRET: SECRET })).toEqual([
      'DRIVER_WEBHOOK_SECRET: must differ from VENDURE_WEBHOOK_SECRET: each caller needs a secret of its own',
    ]);
    const key = 'k'.repeat(40);
    expect(problemsOf({ ADMIN_API_KEY: key, METRICS_TOKEN: key, VENDURE_WEBHOOK_SECRET: SECRET, DRIVER_WEBHOOK_SECRET: other })).toEqual([
      'METRICS_TOKEN: must differ from ADMIN_API_KEY: each caller needs a secret of its own',
    ]);
    expect(loadConfig({ VENDURE_WEBHOOK_SECRET: SECRET, DRIVER_WEBHOOK_SECRET: other }).driverWebhookSecret).toBe(other);
  });

  it('names every bad variable at once', () => {
    expect(problemsOf({ PORT: 'x', LOG_LEVEL: 'y' }).map((p) => p.split(':')[0])).toEqual(['PORT', 'LOG_LEVEL']);
  });

  it('never echoes a secret value in its message', () => {
    const badKey = 'not-long-enough-key';
    const error = (() => {
      try {
        loadConfig({ ADMIN_API_KEY: badKey, DRIVER_WEBHOOK_SECRET: 'whsec_c2VjcmV0', DATABASE_URL: 'mysql://user:pw@x' });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error?.message).toContain('ADMIN_API_KEY');
    expect(error?.message).toContain('DRIVER_WEBHOOK_SECRET');
    expect(error?.message).not.toContain(badKey);
    expect(error?.message).not.toContain('c2VjcmV0');
    expect(error?.message).not.toContain('pw@x');
  });

  it('accepts well-formed secrets and keys', () => {
    const other = `whsec_${Buffer.alloc(24, 9).toString('base64')}`;
    const sut = loadConfig({ VENDURE_WEBHOOK_SECRET: SECRET, DRIVER_WEBHOOK_SECRET: other, ADMIN_API_KEY: 'k'.repeat(32) });
    expect(sut.vendureWebhookSecret).toBe(SECRET);
    expect(sut.driverWebhookSecret).toBe(other);
    expect(sut.adminApiKey).toBe('k'.repeat(32));
  });

  it('splits CORS_ORIGINS into a list', () => {
    expect(loadConfig({ CORS_ORIGINS: 'https://a.example, https://b.example' }).corsOrigins).toEqual([
      'https://a.example',
      'https://b.example',
    ]);
  });
});
