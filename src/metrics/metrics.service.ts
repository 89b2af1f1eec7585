import { Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { RedisService } from '../redis/redis.service.js';

/** Who gave a nearest search its candidates: Redis, or PostgreSQL and why Redis did not. */
export type NearestSearchSource =
  'redis' | 'postgres_redis_unavailable' | 'postgres_redis_unreconciled' | 'postgres_redis_stale' | 'postgres_polar';

/** Prometheus metrics of this process: HTTP traffic by route and status, the Redis breaker, plus Node defaults. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route and status',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency, by method, route and status',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
    registers: [this.registry],
  });

  private readonly webhookAttempts = new Counter({
    name: 'webhook_attempts_total',
    help: 'Attempts to send a webhook to Vendure',
    registers: [this.registry],
  });
  private readonly webhookFailures = new Counter({
    name: 'webhook_dead_letters_total',
    help: 'Webhooks that failed their last attempt (dead-lettered)',
    registers: [this.registry],
  });
  private readonly backgroundRuns = new Counter({
    name: 'background_job_runs_total',
    help: 'Cluster-wide background jobs (reconcile, sweep, retention) this process ran, or skipped because another process had',
    labelNames: ['job', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly retentionDeleted = new Counter({
    name: 'retention_deleted_rows_total',
    help: 'Rows the retention job of this process deleted, by table (webhook_messages, webhook_receipts)',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });
  private readonly ignoredPoints = new Counter({
    name: 'location_points_ignored_total',
    help: 'Location points acknowledged but not used to move the driver, by reason (accuracy, speed, older)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  private readonly assignments = new Counter({
    name: 'assignments_total',
    help: 'seller-order-ready events answered, by outcome (assigned, offered, pending, no_driver, error)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  private readonly assignmentDuration = new Histogram({
    name: 'assignment_duration_seconds',
    help: 'Time to answer seller-order-ready, by outcome',
    labelNames: ['outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  private readonly assignmentClaims = new Counter({
    name: 'assignment_claims_total',
    help: 'Claims of a candidate driver for ready orders, by outcome (assigned, driver-taken, order-live, order-taken, order-delivered): lost claims are driver-taken',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  private readonly trackingEvents = new Counter({
    name: 'tracking_events_sent_total',
    help: 'Events written to tracking streams, by type (status, position)',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  private readonly trackingRefused = new Counter({
    name: 'tracking_streams_refused_total',
    help: 'Tracking streams refused with 429, by limit (link, process)',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });
  private readonly searchWindows = new Counter({
    name: 'nearest_search_windows_total',
    help: 'Candidate windows of nearest-driver searches (a search asks one or more), by who answered: redis, or postgres and why (redis_unavailable, redis_unreconciled, redis_stale, polar)',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  private openStreams?: () => number;
  private driverCounts?: () => Promise<{ online: number; choosable: number } | null>;
  private webhookStats?: () => Promise<{ pending: number; failed: number; oldestPendingSeconds: number }>;
  private webhooksEnabled = false;

  constructor(redis: RedisService) {
    collectDefaultMetrics({ register: this.registry });
    // Outbox gauges are read from PostgreSQL at scrape time; a database that cannot answer leaves them empty.
    const fromStats = (name: string, help: string, key: 'pending' | 'failed' | 'oldestPendingSeconds') => {
      const gauge: Gauge = new Gauge({
        name,
        help,
        registers: [this.registry],
        collect: async () => {
          gauge.reset();
          const stats = await this.webhookStats?.().catch(() => undefined);
          if (stats) gauge.set(stats[key]);
        },
      });
    };
    fromStats('webhook_messages_pending', 'Outbox messages not yet delivered', 'pending');
    fromStats('webhook_messages_failed', 'Outbox messages dead-lettered after their last attempt', 'failed');
    fromStats('webhook_oldest_pending_age_seconds', 'Age of the oldest undelivered outbox message', 'oldestPendingSeconds');
    const drivers: Gauge = new Gauge({
      name: 'drivers',
      help: 'Drivers by state, from Redis: online (heartbeat fresh) and choosable (online, AVAILABLE, located); empty without Redis',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect: async () => {
        drivers.reset();
        const counts = await this.driverCounts?.().catch(() => null);
        if (!counts) return;
        drivers.set({ state: 'online' }, counts.online);
        drivers.set({ state: 'choosable' }, counts.choosable);
      },
    });
    if (redis.client) {
      const open: Gauge = new Gauge({
        name: 'redis_circuit_open',
        help: '1 while Redis is connected but not answering: every path uses PostgreSQL until a probe is answered',
        registers: [this.registry],
        collect: () => open.set(redis.circuitOpen ? 1 : 0),
      });
      const openings: Counter = new Counter({
        name: 'redis_circuit_openings_total',
        help: 'Times Redis stopped answering and the breaker opened, in this process',
        registers: [this.registry],
        // The breaker counts; the counter reports its count at scrape time.
        collect: () => {
          openings.reset();
          openings.inc(redis.circuitOpenings);
        },
      });
    }
    const streams: Gauge = new Gauge({
      name: 'tracking_streams_open',
      help: 'Tracking streams (GET /track/{token}/events) open in this process',
      registers: [this.registry],
      collect: () => streams.set(this.openStreams?.() ?? 0),
    });
    const enabled: Gauge = new Gauge({
      name: 'webhook_relay_enabled',
      help: '1 when VENDURE_WEBHOOK_URL and VENDURE_WEBHOOK_SECRET are set; 0 means messages stay pending',
      registers: [this.registry],
      collect: () => enabled.set(this.webhooksEnabled ? 1 : 0),
    });
  }

  /** Where the drivers gauge reads its counts at scrape time (Redis: two O(log n) commands). */
  setDriverCountsSource(source: () => Promise<{ online: number; choosable: number } | null>): void {
    this.driverCounts = source;
  }

  assignmentClaim(outcome: string): void {
    this.assignmentClaims.inc({ outcome });
  }

  /** Where the open-streams gauge reads its count at scrape time. */
  setOpenStreamsSource(source: () => number): void {
    this.openStreams = source;
  }

  trackingEventSent(type: 'status' | 'position', count = 1): void {
    this.trackingEvents.inc({ type }, count);
  }

  trackingStreamRefused(limit: 'link' | 'process'): void {
    this.trackingRefused.inc({ limit });
  }

  assignment(outcome: 'assigned' | 'offered' | 'pending' | 'no_driver' | 'error', seconds: number): void {
    this.assignments.inc({ outcome });
    this.assignmentDuration.observe({ outcome }, seconds);
  }

  setWebhookStatsSource(source: () => Promise<{ pending: number; failed: number; oldestPendingSeconds: number }>, enabled: boolean) {
    this.webhookStats = source;
    this.webhooksEnabled = enabled;
  }

  backgroundRun(job: 'reconcile' | 'sweep' | 'retention', outcome: 'ran' | 'skipped'): void {
    this.backgroundRuns.inc({ job, outcome });
  }

  retentionDeletedRows(table: 'webhook_messages' | 'webhook_receipts', rows: number): void {
    if (rows > 0) this.retentionDeleted.inc({ table }, rows);
  }

  nearestSearchWindow(source: NearestSearchSource): void {
    this.searchWindows.inc({ source });
  }

  locationIgnored(reason: 'accuracy' | 'speed' | 'older'): void {
    this.ignoredPoints.inc({ reason });
  }

  webhookAttempt(): void {
    this.webhookAttempts.inc();
  }

  webhookDeadLettered(): void {
    this.webhookFailures.inc();
  }

  /** Called from the onResponse hook; the route is the template (`/drivers/:id`), never the raw URL. */
  observe(request: FastifyRequest, reply: FastifyReply): void {
    const labels = {
      method: request.method,
      route: request.routeOptions?.url ?? 'unmatched',
      status_code: String(reply.statusCode),
    };
    this.requests.inc(labels);
    this.duration.observe(labels, reply.elapsedTime / 1000);
  }
}
