/**
 * The service's one typed configuration. It is built once, at boot, from the
 * environment by `loadConfig()` and injected everywhere as `AppConfig`.
 * Nothing else in the code base reads `process.env`.
 */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export type DatabaseConfig =
  | { kind: 'embedded'; dataDir: string }
  | {
      kind: 'postgres';
      url?: string;
      host: string;
      port: number;
      database: string;
      username: string;
      password?: string;
      poolSize: number;
    };

export type RedisConfig =
  | { kind: 'disabled' }
  | { kind: 'redis'; url?: string; host: string; port: number; password?: string; keyPrefix: string }
  /** A Redis Cluster, found from its seed nodes (`REDIS_CLUSTER_NODES`). */
  | { kind: 'cluster'; nodes: Array<{ host: string; port: number }>; password?: string; keyPrefix: string };

export class AppConfig {
  port!: number;
  nodeEnv!: 'development' | 'production' | 'test';
  logLevel!: LogLevel;
  database!: DatabaseConfig;
  /** Apply pending migrations at start-up (`DB_MIGRATIONS_RUN`, default true). */
  migrationsRun!: boolean;
  redis!: RedisConfig;
  vendureWebhookSecret?: string;
  vendureWebhookUrl?: string;
  driverWebhookSecret?: string;
  adminApiKey?: string;
  metricsToken?: string;
  corsOrigins!: string[];
  driverHeartbeatTtlSeconds!: number;
  assignmentMaxRadiusKm!: number;
  reconcileIntervalSeconds!: number;
  /** How long a graceful shutdown may take before the process gives up (ms). */
  shutdownTimeoutMs!: number;
  /**
   * On SIGTERM, how long the process keeps serving while `/health/ready`
   * answers 503, before it stops accepting connections (s).
   */
  shutdownGraceSeconds!: number;
  /** How long an idle keep-alive connection stays open (ms); announced to clients in `Keep-Alive: timeout=`. */
  httpKeepAliveTimeoutMs!: number;
  /** How long a client has to send a whole request, headers and body (ms); then 408 and the socket is closed. */
  httpRequestTimeoutMs!: number;
  /** Whether signed requests must carry `webhook-target-signature` (their method and path, signed). */
  signedTarget!: 'optional' | 'required';
  /** Waits before each attempt of an outbound webhook, in seconds; the first is normally 0. */
  webhookRetryScheduleSeconds!: number[];
  /** How long a verified driver token is trusted before it is checked again (ms). */
  driverTokenCacheTtlMs!: number;
  /** Location updates per driver per minute, across the cluster (0: no limit). */
  rateLimitLocationPerMinute!: number;
  /** seller-order-ready events per caller per minute, across the cluster (0: no limit). */
  rateLimitOrderReadyPerMinute!: number;
  /** `auto`: the chosen driver is assigned at once (v1); `offer`: it must accept an offer. Per order: `dispatchMode`. */
  dispatchMode!: DispatchMode;
  /** How long an order with no driver in reach waits for one; 0 answers NO_DRIVER_AVAILABLE and keeps nothing (v1). */
  dispatchMaxWaitSeconds!: number;
  /** How long a driver has to accept an offer. */
  offerTimeoutSeconds!: number;
  /** A point whose accuracy is worse than this (metres) is only a heartbeat; 0: no limit. */
  locationMaxAccuracyMeters!: number;
  /** A point implying a faster move than this from the last accepted one is only a heartbeat; 0: no limit. */
  locationMaxSpeedKmh!: number;
  /** Offers let time out in a row that set a driver OFFLINE. */
  offerTimeoutsBeforeOffline!: number;
  /** An assigned driver whose heartbeat is this stale before pickup is lost: its order goes to the next driver. */
  driverLostSeconds!: number;
  /** How often each process looks for dispatch timers that are due (ms). */
  dispatchTimerIntervalMs!: number;
  /** Delivered outbox messages are deleted this many days after their delivery; pending and failed ones are kept. */
  retentionDays!: number;
  /** How long a tracking link keeps working after its delivery ends (s). */
  trackingLinkTtlSeconds!: number;
  /** Where customers reach the service: the base of tracking links' `url`. */
  publicBaseUrl!: string;
  /** The map tiles of the tracking page (`{z}/{x}/{y}` template); empty: no tiles, the page draws the points alone. */
  trackingTileUrl!: string;
  /** The tiles' attribution, shown on the map. */
  trackingTileAttribution!: string;
  /** Open tracking streams allowed per link, in each process. */
  trackingMaxStreamsPerLink!: number;
  /** Open tracking streams allowed in each process. */
  trackingMaxStreams!: number;
  /** How often an open tracking stream sends a heartbeat comment (s). */
  trackingHeartbeatSeconds!: number;
  /** Straight-line speeds for ETAs (km/h), by vehicle type (lower case); `default` for any other. */
  etaSpeedsKmh!: Record<string, number>;
}

export const DISPATCH_MODES = ['auto', 'offer'] as const;
export type DispatchMode = (typeof DISPATCH_MODES)[number];
