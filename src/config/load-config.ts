import { AppConfig, DatabaseConfig, DISPATCH_MODES, LogLevel, RedisConfig } from './app-config.js';

type Env = Record<string, string | undefined>;

/** Thrown when the environment is invalid; its message names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Variables whose values must never be echoed, even in an error message. */
export const SECRET_VARIABLES = new Set([
  'DATABASE_URL',
  'DB_PASSWORD',
  'REDIS_URL',
  'REDIS_PASSWORD',
  'VENDURE_WEBHOOK_SECRET',
  'DRIVER_WEBHOOK_SECRET',
  'ADMIN_API_KEY',
  'METRICS_TOKEN',
]);

/** Every variable the service reads, in the order the docs list them. */
export const CONFIG_VARIABLES = [
  'PORT',
  'NODE_ENV',
  'LOG_LEVEL',
  'DATABASE_URL',
  'DB_HOST',
  'DB_PORT',
  'DB_NAME',
  'DB_USERNAME',
  'DB_PASSWORD',
  'DB_POOL_SIZE',
  'DB_SYNCHRONIZE',
  'DB_MIGRATIONS_RUN',
  'PGLITE_DATA_DIR',
  'REDIS_URL',
  'REDIS_HOST',
  'REDIS_PORT',
  'REDIS_PASSWORD',
  'REDIS_CLUSTER_NODES',
  'REDIS_KEY_PREFIX',
  'VENDURE_WEBHOOK_SECRET',
  'VENDURE_WEBHOOK_URL',
  'DRIVER_WEBHOOK_SECRET',
  'ADMIN_API_KEY',
  'METRICS_TOKEN',
  'CORS_ORIGINS',
  'DRIVER_HEARTBEAT_TTL_SECONDS',
  'ASSIGNMENT_MAX_RADIUS_KM',
  'RECONCILE_INTERVAL_SECONDS',
  'SHUTDOWN_TIMEOUT_MS',
  'SHUTDOWN_GRACE_SECONDS',
  'DRIVER_TOKEN_CACHE_TTL_MS',
  'WEBHOOK_RETRY_SCHEDULE_SECONDS',
  'RATE_LIMIT_LOCATION_PER_MINUTE',
  'RATE_LIMIT_ORDER_READY_PER_MINUTE',
  'HTTP_KEEP_ALIVE_TIMEOUT_MS',
  'HTTP_REQUEST_TIMEOUT_MS',
  'SIGNED_TARGET',
  'DISPATCH_MODE',
  'DISPATCH_MAX_WAIT_SECONDS',
  'OFFER_TIMEOUT_SECONDS',
  'OFFER_TIMEOUTS_BEFORE_OFFLINE',
  'DRIVER_LOST_SECONDS',
  'DISPATCH_TIMER_INTERVAL_MS',
  'LOCATION_MAX_ACCURACY_METERS',
  'LOCATION_MAX_SPEED_KMH',
  'RETENTION_DAYS',
  'PUBLIC_BASE_URL',
  'TRACKING_LINK_TTL_SECONDS',
  'TRACKING_TILE_URL',
  'TRACKING_TILE_ATTRIBUTION',
  'TRACKING_MAX_STREAMS_PER_LINK',
  'TRACKING_MAX_STREAMS',
  'TRACKING_HEARTBEAT_SECONDS',
  'ETA_SPEEDS_KMH',
] as const;

/** Straight-line speeds (km/h) behind ETAs: a city's average door to door, not a top speed. */
export const DEFAULT_ETA_SPEEDS_KMH: Record<string, number> = {
  walking: 5,
  bicycle: 15,
  bike: 15,
  scooter: 20,
  motorbike: 25,
  car: 22,
  van: 20,
  default: 18,
};
const DEFAULT_TILE_URL = 'https://tile.openstreetmap.org/{z}/{x}/{y}.png';
const DEFAULT_TILE_ATTRIBUTION = '© OpenStreetMap contributors';

/** At once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about a day. */
export const DEFAULT_RETRY_SCHEDULE_SECONDS = [0, 5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];

const WEBHOOK_SECRET = /^whsec_[A-Za-z0-9+/]+={0,2}$/;
const LOG_LEVELS: LogLevel[] = ['error', 'warn', 'info', 'debug'];
const NODE_ENVS = ['development', 'production', 'test'] as const;

class Reader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  /** The trimmed value, or undefined when unset or empty. */
  raw(name: string): string | undefined {
    const value = this.env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  }

  fail(name: string, rule: string): undefined {
    const value = this.env[name];
    const shown = SECRET_VARIABLES.has(name) ? '' : ` (got ${JSON.stringify(value)})`;
    this.problems.push(`${name}: ${rule}${shown}`);
    return undefined;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = /^-?\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      this.fail(name, `must be a whole number from ${min} to ${max}`);
      return fallback;
    }
    return parsed;
  }

  number(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
    if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
      this.fail(name, `must be a number from ${min} to ${max}`);
      return fallback;
    }
    return parsed;
  }

  bool(name: string, fallback: boolean): boolean {
    const value = this.raw(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (['true', '1', 'yes'].includes(value)) return true;
    if (['false', '0', 'no'].includes(value)) return false;
    this.fail(name, 'must be true or false');
    return fallback;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(value)) {
      this.fail(name, `must be one of ${allowed.join(', ')}`);
      return fallback;
    }
    return value as T;
  }

  url(name: string, protocols: string[]): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    try {
      const parsed = new URL(value);
      if (!protocols.includes(parsed.protocol)) {
        return this.fail(name, `must be a ${protocols.join(' or ')} URL`);
      }
      return value;
    } catch {
      return this.fail(name, 'must be a valid URL');
    }
  }

  webhookSecret(name: string): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    const bytes = WEBHOOK_SECRET.test(value) ? Buffer.from(value.slice(6), 'base64').length : 0;
    if (bytes < 24 || bytes > 64) {
      return this.fail(
        name,
        'must be "whsec_" followed by the base64 of 24 to 64 random bytes (generate one with `npm run secret:generate`)',
      );
    }
    return value;
  }

  seconds(name: string, fallback: number[]): number[] {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parts = value.split(',').map((part) => part.trim());
    const numbers = parts.map((part) => (/^\d+(\.\d+)?$/.test(part) ? Number(part) : NaN));
    if (numbers.length < 1 || numbers.length > 20 || numbers.some((n) => !Number.isFinite(n) || n > 86_400)) {
      this.fail(name, 'must be 1 to 20 comma-separated waits in seconds (each at most 86400), such as 0,5,300');
      return fallback;
    }
    return numbers;
  }

  /** `name=speed` pairs, comma-separated (`bicycle=15,car=22,default=18`); names are matched in lower case. */
  speeds(name: string, fallback: Record<string, number>): Record<string, number> {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const speeds: Record<string, number> = {};
    for (const pair of value.split(',')) {
      const match = /^\s*([A-Za-z0-9_-]{1,50})\s*=\s*(\d+(?:\.\d+)?)\s*$/.exec(pair);
      const speed = match ? Number(match[2]) : NaN;
      if (!match || !(speed > 0 && speed <= 300)) {
        this.fail(
          name,
          'must be comma-separated vehicleType=km/h pairs with speeds above 0 and at most 300, such as bicycle=15,car=22,default=18',
        );
        return fallback;
      }
      speeds[match[1].toLowerCase()] = speed;
    }
    // A vehicle type the list leaves out still gets an ETA.
    return { default: fallback.default, ...speeds };
  }

  /** A bearer credential: long enough, and nothing a header could not carry intact. */
  bearerSecret(name: string, min: number): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    if (value.length < min || !/^[\x21-\x7e]+$/.test(value)) {
      return this.fail(name, `must be at least ${min} printable characters, without spaces`);
    }
    return value;
  }
}

function readDatabase(r: Reader): DatabaseConfig {
  // Any DATABASE_URL or DB_* connection variable selects an external PostgreSQL.
  const external = ['DATABASE_URL', 'DB_HOST', 'DB_PORT', 'DB_NAME', 'DB_USERNAME', 'DB_PASSWORD'].some(
    (name) => r.raw(name) !== undefined,
  );
  // Two at least: migrations hold one connection for their lock while running on another.
  const poolSize = r.int('DB_POOL_SIZE', 10, 2, 200);
  if (!external) return { kind: 'embedded', dataDir: r.raw('PGLITE_DATA_DIR') ?? './data' };
  return {
    kind: 'postgres',
    url: r.url('DATABASE_URL', ['postgres:', 'postgresql:']),
    host: r.raw('DB_HOST') ?? '127.0.0.1',
    port: r.int('DB_PORT', 5432, 1, 65535),
    database: r.raw('DB_NAME') ?? 'driver_service',
    username: r.raw('DB_USERNAME') ?? 'postgres',
    password: r.raw('DB_PASSWORD'),
    poolSize,
  };
}

function readRedis(r: Reader): RedisConfig {
  const keyPrefix = r.raw('REDIS_KEY_PREFIX') ?? '';
  const seeds = r.raw('REDIS_CLUSTER_NODES');
  if (seeds !== undefined) {
    const single = ['REDIS_URL', 'REDIS_HOST', 'REDIS_PORT'].find((name) => r.raw(name) !== undefined);
    if (single) r.fail('REDIS_CLUSTER_NODES', `names a Redis Cluster; leave ${single} unset (it names a single Redis)`);
    return { kind: 'cluster', nodes: readClusterNodes(r, seeds), password: r.raw('REDIS_PASSWORD'), keyPrefix };
  }
  const external = ['REDIS_URL', 'REDIS_HOST', 'REDIS_PORT', 'REDIS_PASSWORD'].some((name) => r.raw(name) !== undefined);
  if (!external) return { kind: 'disabled' };
  return {
    kind: 'redis',
    url: r.url('REDIS_URL', ['redis:', 'rediss:']),
    host: r.raw('REDIS_HOST') ?? '127.0.0.1',
    port: r.int('REDIS_PORT', 6379, 1, 65535),
    password: r.raw('REDIS_PASSWORD'),
    keyPrefix,
  };
}

/** `host:port,host:port`: some of the cluster's nodes, from which the client learns the rest. */
function readClusterNodes(r: Reader, seeds: string): Array<{ host: string; port: number }> {
  const nodes = seeds.split(',').map((seed) => /^\s*([^\s:,]+|\[[0-9a-fA-F:.]+\]):(\d{1,5})\s*$/.exec(seed));
  const ports = nodes.map((node) => Number(node?.[2]));
  if (nodes.some((node) => node === null) || ports.some((port) => port < 1 || port > 65535)) {
    r.fail('REDIS_CLUSTER_NODES', 'must be a comma-separated list of host:port (port from 1 to 65535)');
    return [];
  }
  return nodes.map((node, i) => ({ host: node![1].replace(/^\[|\]$/g, ''), port: ports[i] }));
}

/**
 * DRIVER_LOST_SECONDS: 120 by default, and never below the heartbeat TTL: a
 * driver is lost only once it could no longer be chosen. Unset with a longer
 * TTL, it follows the TTL; set below it, start-up stops.
 */
function readLostSeconds(r: Reader, ttl: number): number {
  if (r.raw('DRIVER_LOST_SECONDS') === undefined) return Math.max(120, ttl);
  const lost = r.int('DRIVER_LOST_SECONDS', 120, 10, 86_400);
  if (lost < ttl) r.fail('DRIVER_LOST_SECONDS', `must not be below DRIVER_HEARTBEAT_TTL_SECONDS (${ttl})`);
  return lost;
}

/**
 * Builds the configuration from an environment map. Throws `ConfigError`
 * naming every invalid variable; secret values are never included.
 */
export function loadConfig(env: Env): AppConfig {
  const r = new Reader(env);
  if (r.bool('DB_SYNCHRONIZE', false)) {
    r.fail('DB_SYNCHRONIZE', 'the schema is changed by migrations only; leave it unset or set it to false');
  }
  const driverHeartbeatTtlSeconds = r.int('DRIVER_HEARTBEAT_TTL_SECONDS', 60, 1, 86_400);
  const nodeEnv = r.oneOf('NODE_ENV', NODE_ENVS, 'development');
  const port = r.int('PORT', 3001, 1, 65535);
  const config: AppConfig = Object.assign(new AppConfig(), {
    port,
    nodeEnv,
    logLevel: r.oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
    database: readDatabase(r),
    migrationsRun: r.bool('DB_MIGRATIONS_RUN', true),
    redis: readRedis(r),
    vendureWebhookSecret: r.webhookSecret('VENDURE_WEBHOOK_SECRET'),
    vendureWebhookUrl: r.url('VENDURE_WEBHOOK_URL', ['http:', 'https:']),
    driverWebhookSecret: r.webhookSecret('DRIVER_WEBHOOK_SECRET'),
    adminApiKey: r.bearerSecret('ADMIN_API_KEY', 32),
    metricsToken: r.bearerSecret('METRICS_TOKEN', 16),
    corsOrigins: (r.raw('CORS_ORIGINS') ?? '')
      .split(',')
      .map((origin) => origin.trim())
      .filter(Boolean),
    driverHeartbeatTtlSeconds,
    assignmentMaxRadiusKm: r.number('ASSIGNMENT_MAX_RADIUS_KM', 100, 0.1, 100),
    reconcileIntervalSeconds: r.int('RECONCILE_INTERVAL_SECONDS', 30, 1, 86_400),
    shutdownTimeoutMs: r.int('SHUTDOWN_TIMEOUT_MS', 10_000, 100, 600_000),
    // In production a load balancer or orchestrator needs a moment to see /health/ready fail.
    shutdownGraceSeconds: r.int('SHUTDOWN_GRACE_SECONDS', nodeEnv === 'production' ? 5 : 0, 0, 300),
    httpKeepAliveTimeoutMs: r.int('HTTP_KEEP_ALIVE_TIMEOUT_MS', 5_000, 1_000, 600_000),
    httpRequestTimeoutMs: r.int('HTTP_REQUEST_TIMEOUT_MS', 30_000, 1_000, 600_000),
    signedTarget: r.oneOf('SIGNED_TARGET', ['optional', 'required'] as const, 'optional'),
    driverTokenCacheTtlMs: r.int('DRIVER_TOKEN_CACHE_TTL_MS', 30_000, 0, 60_000),
    webhookRetryScheduleSeconds: r.seconds('WEBHOOK_RETRY_SCHEDULE_SECONDS', DEFAULT_RETRY_SCHEDULE_SECONDS),
    rateLimitLocationPerMinute: r.int('RATE_LIMIT_LOCATION_PER_MINUTE', 120, 0, 1_000_000),
    rateLimitOrderReadyPerMinute: r.int('RATE_LIMIT_ORDER_READY_PER_MINUTE', 6_000, 0, 1_000_000),
    dispatchMode: r.oneOf('DISPATCH_MODE', DISPATCH_MODES, 'auto'),
    dispatchMaxWaitSeconds: r.int('DISPATCH_MAX_WAIT_SECONDS', 0, 0, 86_400),
    offerTimeoutSeconds: r.int('OFFER_TIMEOUT_SECONDS', 30, 5, 600),
    offerTimeoutsBeforeOffline: r.int('OFFER_TIMEOUTS_BEFORE_OFFLINE', 2, 1, 100),
    driverLostSeconds: readLostSeconds(r, driverHeartbeatTtlSeconds),
    dispatchTimerIntervalMs: r.int('DISPATCH_TIMER_INTERVAL_MS', 1_000, 20, 60_000),
    locationMaxAccuracyMeters: r.int('LOCATION_MAX_ACCURACY_METERS', 100, 0, 100_000),
    locationMaxSpeedKmh: r.int('LOCATION_MAX_SPEED_KMH', 250, 0, 10_000),
    retentionDays: r.int('RETENTION_DAYS', 14, 1, 3_650),
    trackingLinkTtlSeconds: r.int('TRACKING_LINK_TTL_SECONDS', 3_600, 0, 30 * 86_400),
    publicBaseUrl: (r.url('PUBLIC_BASE_URL', ['http:', 'https:']) ?? `http://localhost:${port}`).replace(/\/+$/, ''),
    trackingTileUrl: r.raw('TRACKING_TILE_URL') === 'none' ? '' : (r.url('TRACKING_TILE_URL', ['http:', 'https:']) ?? DEFAULT_TILE_URL),
    trackingTileAttribution: r.raw('TRACKING_TILE_ATTRIBUTION') ?? DEFAULT_TILE_ATTRIBUTION,
    trackingMaxStreamsPerLink: r.int('TRACKING_MAX_STREAMS_PER_LINK', 5, 1, 1_000),
    trackingMaxStreams: r.int('TRACKING_MAX_STREAMS', 2_000, 1, 100_000),
    trackingHeartbeatSeconds: r.int('TRACKING_HEARTBEAT_SECONDS', 15, 1, 300),
    etaSpeedsKmh: r.speeds('ETA_SPEEDS_KMH', DEFAULT_ETA_SPEEDS_KMH),
  });
  // A secret shared by two callers lets one act as the other: Vendure's signatures, say, as the driver app backend's.
  const secrets: Array<[string, string | undefined]> = [
    ['ADMIN_API_KEY', config.adminApiKey],
    ['VENDURE_WEBHOOK_SECRET', config.vendureWebhookSecret],
    ['DRIVER_WEBHOOK_SECRET', config.driverWebhookSecret],
    ['METRICS_TOKEN', config.metricsToken],
  ];
  secrets.forEach(([name, value], i) => {
    const same = secrets.slice(0, i).find(([, earlier]) => value !== undefined && earlier === value);
    if (same) r.fail(name, `must differ from ${same[0]}: each caller needs a secret of its own`);
  });
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return config;
}
