import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import pg from 'pg';
import { DomainError } from '../common/domain-error.js';
import { AppConfig } from '../config/app-config.js';
import { Lifecycle } from '../health/lifecycle.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { TrackedChange, TrackedDelivery, TrackingRepository } from './tracking.repository.js';
import { TrackingService } from './tracking.service.js';

/** The NOTIFY channel `record_delivery_change` signals on, for deliveries with a link (deliveries.sql). */
export const TRACKING_CHANNEL = 'delivery_tracking';
/** Open streams' deliveries are read this often, whether or not a notification came. */
export const POLL_EVERY_MS = 500;
/** A stream gets at most one position per this many milliseconds. */
export const POSITION_EVERY_MS = 1_000;
/** A stream refused for a limit is told to come back after this long (Retry-After). */
const RETRY_AFTER_SECONDS = 5;
/** After the listening connection is lost, it is opened again after this long. */
const RELISTEN_AFTER_MS = 1_000;

/** Where a stream's events go: the hijacked response of GET /track/:token/events. */
export interface StreamSink {
  /** Writes a chunk; false when the socket's buffer is full (the sink emits 'drain' later). */
  write(chunk: string): boolean;
  end(): void;
  once(event: 'drain', listener: () => void): unknown;
}

interface Stream {
  deliveryId: string;
  tokenHash: string;
  sink: StreamSink;
  /** The seq of the last status change sent: the id a reconnecting client sends back. */
  cursor: number;
  positionKey: string | null;
  positionSentAt: number;
  /** The socket could not take more: positions wait (status changes are still queued). */
  congested: boolean;
  closed: boolean;
}

const positionKey = (position: { lat: number; lon: number; recordedAt: Date }) =>
  `${position.lat},${position.lon},${position.recordedAt.getTime()}`;

/** One SSE event, as written on the wire. */
export function sseEvent(type: string, id: number, data: unknown): string {
  return `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * The open tracking streams of this process, and what they are sent.
 *
 * Every POLL_EVERY_MS, while a stream is open, one statement reads the
 * followed deliveries (status, driver, position, latest event seq) and, for
 * those with news, a second one reads their status changes after each
 * stream's cursor: the audit trail in PostgreSQL is the stream's source, so a
 * reconnecting client (Last-Event-ID: a seq) misses nothing and a change made
 * by any process reaches every process's streams. PostgreSQL LISTEN/NOTIFY
 * (on external PostgreSQL) makes status changes arrive at once rather than
 * at the next read: `record_delivery_change` notifies, for deliveries with a
 * link, in the transaction of the change, so a notification means a committed
 * change. NOTIFY rather than Redis pub/sub: it commits with the change, it
 * works while Redis is down, and polling covers what a lost notification
 * would have said. Positions are read, never notified: at one a second they
 * are a poll's cadence, and a NOTIFY per ping would serialise the hottest
 * writes' commits.
 */
@Injectable()
export class TrackingFeed implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(TrackingFeed.name);
  private readonly byDelivery = new Map<string, Set<Stream>>();
  private readonly perLink = new Map<string, number>();
  private open = 0;
  private pollTimer?: NodeJS.Timeout;
  private heartbeatTimer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private again = false;
  private stopped = false;
  private listener?: pg.Client;
  private relistenTimer?: NodeJS.Timeout;
  private lastFailure = 0;
  private listenFailing = false;

  constructor(
    private readonly config: AppConfig,
    private readonly repository: TrackingRepository,
    private readonly tracking: TrackingService,
    private readonly metrics: MetricsService,
    lifecycle: Lifecycle,
  ) {
    metrics.setOpenStreamsSource(() => this.open);
    // At the drain, not at app.close: an open stream would hold the drain for its whole budget.
    lifecycle.onDrain(() => this.endAll());
  }

  onApplicationBootstrap(): void {
    if (this.config.database.kind === 'postgres') void this.listen();
  }

  /** Ends every stream (clients reconnect, to another process), then stops listening. */
  async beforeApplicationShutdown(): Promise<void> {
    this.endAll();
    clearTimeout(this.relistenTimer);
    await this.ticking;
    await this.listener?.end().catch(() => undefined);
  }

  /** Ends every open stream, and every stream opened from now on at once: the process is stopping. */
  private endAll(): void {
    this.stopped = true;
    for (const streams of [...this.byDelivery.values()]) for (const stream of [...streams]) this.close(stream, true);
  }

  /** Streams open in this process. */
  get openStreams(): number {
    return this.open;
  }

  /** Deliveries followed by at least one stream. */
  get followedDeliveries(): number {
    return this.byDelivery.size;
  }

  /** Throws 429 TOO_MANY_STREAMS when another stream of this link, or in this process, would pass its limit. */
  admit(tokenHash: string): void {
    const retry = { 'retry-after': String(RETRY_AFTER_SECONDS) };
    if (this.open >= this.config.trackingMaxStreams) {
      this.metrics.trackingStreamRefused('process');
      throw new DomainError(
        'TOO_MANY_STREAMS',
        `This process holds its limit of ${this.config.trackingMaxStreams} tracking streams`,
        retry,
      );
    }
    if ((this.perLink.get(tokenHash) ?? 0) >= this.config.trackingMaxStreamsPerLink) {
      this.metrics.trackingStreamRefused('link');
      throw new DomainError(
        'TOO_MANY_STREAMS',
        `This tracking link already has ${this.config.trackingMaxStreamsPerLink} open streams; close one first`,
        retry,
      );
    }
  }

  /**
   * Starts a stream of the delivery's changes after `cursor` (a seq; 0 for
   * all of them) and its driver's positions; it is sent at once what it has
   * not seen. Call `admit` first. Answers the function that closes it.
   */
  add(delivery: TrackedDelivery, tokenHash: string, cursor: number, sink: StreamSink): () => void {
    if (this.stopped) {
      // Stopping: the client is told to come back, and reconnects to another process.
      sink.write(`retry: 1000\n\n`);
      sink.end();
      return () => undefined;
    }
    const stream: Stream = {
      deliveryId: delivery.deliveryId,
      tokenHash,
      sink,
      cursor,
      positionKey: null,
      positionSentAt: 0,
      congested: false,
      closed: false,
    };
    let streams = this.byDelivery.get(stream.deliveryId);
    if (!streams) this.byDelivery.set(stream.deliveryId, (streams = new Set()));
    streams.add(stream);
    this.perLink.set(tokenHash, (this.perLink.get(tokenHash) ?? 0) + 1);
    this.open++;
    // A reconnecting client waits this long before it tries again.
    sink.write(`retry: 3000\n: stream of delivery changes\n\n`);
    this.startTimers();
    this.wake();
    return () => this.close(stream, false);
  }

  /** Reads the followed deliveries now (a notification came, or a stream opened). */
  wake(): void {
    if (this.stopped) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = this.tick()
      .catch((error: Error) => {
        // One line per 30 s at most while the database is away; streams stay open with their heartbeats.
        if (Date.now() - this.lastFailure > 30_000) this.logger.warn(`Tracking streams: could not read deliveries: ${error.message}`);
        this.lastFailure = Date.now();
      })
      .finally(() => {
        this.ticking = undefined;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  private close(stream: Stream, end: boolean): void {
    if (stream.closed) return;
    stream.closed = true;
    if (end) stream.sink.end();
    const streams = this.byDelivery.get(stream.deliveryId);
    streams?.delete(stream);
    if (streams?.size === 0) this.byDelivery.delete(stream.deliveryId);
    const left = (this.perLink.get(stream.tokenHash) ?? 1) - 1;
    if (left > 0) this.perLink.set(stream.tokenHash, left);
    else this.perLink.delete(stream.tokenHash);
    this.open--;
    if (this.open === 0) this.stopTimers();
  }

  private startTimers(): void {
    if (this.pollTimer) return;
    this.pollTimer = setInterval(() => this.wake(), POLL_EVERY_MS);
    this.pollTimer.unref();
    // A comment line keeps proxies and load balancers from closing an idle stream.
    this.heartbeatTimer = setInterval(() => {
      for (const streams of this.byDelivery.values()) for (const stream of streams) stream.sink.write(': keep-alive\n\n');
    }, this.config.trackingHeartbeatSeconds * 1000);
    this.heartbeatTimer.unref();
  }

  private stopTimers(): void {
    clearInterval(this.pollTimer);
    clearInterval(this.heartbeatTimer);
    this.pollTimer = this.heartbeatTimer = undefined;
  }

  private async tick(): Promise<void> {
    const ids = [...this.byDelivery.keys()];
    if (ids.length === 0) return;
    const views = await this.repository.views(ids);
    // The streams this read is for: one that opens while the changes are read may have seen less than they start
    // from, so it waits for the next read (its opening asked for one).
    const served = new Map<string, Stream[]>();
    const behind = new Map<string, number>();
    for (const view of views) {
      const streams = [...(this.byDelivery.get(view.deliveryId) ?? [])];
      served.set(view.deliveryId, streams);
      const cursor = Math.min(...streams.map((stream) => stream.cursor));
      if (view.lastSeq > cursor) behind.set(view.deliveryId, cursor);
    }
    const changes = behind.size > 0 ? await this.repository.changesAfter(behind) : [];
    const found = new Set<string>();
    // Status changes first; then positions, whose ETAs are asked for only where a stream is due one.
    const due: Array<{ view: TrackedDelivery; streams: Stream[] }> = [];
    for (const view of views) {
      found.add(view.deliveryId);
      const own = changes.filter((change) => change.deliveryId === view.deliveryId);
      const streams = (served.get(view.deliveryId) ?? []).filter(
        (stream) => !stream.closed && this.sendChanges(stream, view, own) && this.positionDue(stream, view),
      );
      if (streams.length > 0) due.push({ view, streams });
    }
    // A delivery that is gone (it cannot be, short of a manual delete) ends its streams.
    for (const id of ids) if (!found.has(id)) for (const stream of [...(this.byDelivery.get(id) ?? [])]) this.close(stream, true);
    if (due.length === 0) return;
    const etas = await this.tracking.etaSeconds(due.map(({ view }) => view));
    due.forEach(({ view, streams }, i) => {
      for (const stream of streams) if (!stream.closed) this.sendPosition(stream, view, etas[i]);
    });
  }

  /** Sends the stream the changes it has not seen; false when that ended it (the delivery is over). */
  private sendChanges(stream: Stream, view: TrackedDelivery, changes: TrackedChange[]): boolean {
    let statuses = 0;
    for (const change of changes) {
      if (change.seq <= stream.cursor) continue;
      this.write(stream, sseEvent('status', change.seq, { status: change.status, previousStatus: change.previousStatus, at: change.at }));
      stream.cursor = change.seq;
      statuses++;
    }
    if (statuses > 0) this.metrics.trackingEventSent('status', statuses);
    if (view.endedAt && stream.cursor >= view.lastSeq) {
      // Nothing more will happen: say so, so the page stops reconnecting, and end.
      this.write(stream, sseEvent('end', stream.cursor, { status: view.status }));
      this.close(stream, true);
      return false;
    }
    return true;
  }

  /** Whether the driver's position is new to the stream and a second has passed since its last one. */
  private positionDue(stream: Stream, view: TrackedDelivery): boolean {
    const position = this.tracking.positionOf(view);
    if (!position || stream.congested) return false;
    return positionKey(position) !== stream.positionKey && Date.now() - stream.positionSentAt >= POSITION_EVERY_MS;
  }

  private sendPosition(stream: Stream, view: TrackedDelivery, etaSeconds: number | null): void {
    const position = this.tracking.positionOf(view)!;
    stream.positionKey = positionKey(position);
    stream.positionSentAt = Date.now();
    this.write(
      stream,
      sseEvent('position', stream.cursor, { lat: position.lat, lon: position.lon, recordedAt: position.recordedAt, etaSeconds }),
    );
    this.metrics.trackingEventSent('position');
  }

  private write(stream: Stream, chunk: string): void {
    if (stream.sink.write(chunk) || stream.congested) return;
    stream.congested = true;
    stream.sink.once('drain', () => (stream.congested = false));
  }

  /** LISTEN on a connection of its own; lost, it is opened again, and the streams read at once for what they missed. */
  private async listen(): Promise<void> {
    const db = this.config.database;
    if (db.kind !== 'postgres' || this.stopped) return;
    const client = new pg.Client({
      ...(db.url
        ? { connectionString: db.url }
        : { host: db.host, port: db.port, database: db.database, user: db.username, password: db.password }),
      application_name: 'driver-service tracking',
      connectionTimeoutMillis: 3_000,
      keepAlive: true,
    });
    const relisten = () => {
      if (this.listener !== client) return;
      this.listener = undefined;
      client.removeAllListeners();
      client.on('error', () => undefined);
      void client.end().catch(() => undefined);
      if (!this.stopped) this.relistenTimer = setTimeout(() => void this.listen(), RELISTEN_AFTER_MS).unref();
    };
    this.listener = client;
    client.on('error', relisten);
    client.on('end', relisten);
    client.on('notification', (message) => {
      if (message.channel === TRACKING_CHANNEL && message.payload && this.byDelivery.has(message.payload)) this.wake();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${TRACKING_CHANNEL}`);
      if (this.listenFailing) this.logger.log('Tracking streams: listening for changes again');
      this.listenFailing = false;
      this.wake();
    } catch (error) {
      // Once per outage: streams still see every change, at their half-second read.
      if (!this.listenFailing)
        this.logger.warn(`Tracking streams: cannot LISTEN (${(error as Error).message}); reading every ${POLL_EVERY_MS} ms meanwhile`);
      this.listenFailing = true;
      relisten();
    }
  }
}
