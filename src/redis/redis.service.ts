import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { Cluster, ClusterOptions, Command, Redis, RedisOptions } from 'ioredis';
import { AppConfig, RedisConfig } from '../config/app-config.js';
import { keyPrefixFor } from './key-prefix.js';
import { REDIS_PROBE_EVERY_MS, REDIS_SILENCE_MS, RedisBreaker } from './redis-breaker.js';

/** A single Redis or a Redis Cluster: the commands, scripts and pipelines the service uses are the same on both. */
export type RedisClient = Redis | Cluster;

/** The ioredis client, showing the breaker every command it sends once connected. */
class WatchedRedis extends Redis {
  onSend?: (command: Command) => void;

  override sendCommand(command: Command, stream?: Parameters<Redis['sendCommand']>[1]): unknown {
    if (this.status === 'ready') this.onSend?.(command);
    return super.sendCommand(command, stream);
  }
}

/** The same for a cluster: every command the service sends, whichever node it goes to. */
class WatchedCluster extends Cluster {
  onSend?: (command: Command) => void;

  override sendCommand(command: Command, stream?: Parameters<Cluster['sendCommand']>[1], node?: unknown): unknown {
    if (this.status === 'ready') this.onSend?.(command);
    return super.sendCommand(command, stream, node);
  }
}

/** Each connection's settings, on both kinds: a command gets one try and a deadline. */
const CONNECTION = {
  maxRetriesPerRequest: 1,
  connectTimeout: 2_000,
  commandTimeout: 2_000,
} satisfies RedisOptions;
/** The client's own settings, on both kinds: fail at once rather than queue while not connected. */
const commands = () => ({
  enableOfflineQueue: false,
  lazyConnect: true,
  // Commands issued in the same tick (many location updates at once) go out in one write.
  enableAutoPipelining: true,
  // This client's own list (withScripts adds the scripts), not ioredis' shared default nor another client's.
  autoPipeliningIgnoredCommands: [] as string[],
});
// Keep trying for as long as the process lives; back off to one attempt every 2 s.
const retry = (attempt: number) => Math.min(attempt * 200, 2_000);

function connect(config: Exclude<RedisConfig, { kind: 'disabled' }>): WatchedRedis | WatchedCluster {
  const keyPrefix = keyPrefixFor(config.kind, config.keyPrefix) || undefined;
  if (config.kind === 'cluster') {
    const options: ClusterOptions = {
      ...commands(),
      keyPrefix,
      clusterRetryStrategy: retry,
      slotsRefreshTimeout: 2_000,
      redisOptions: { ...CONNECTION, password: config.password },
    };
    return new WatchedCluster(config.nodes, options);
  }
  const options: RedisOptions = { ...CONNECTION, ...commands(), keyPrefix, retryStrategy: retry };
  const { url, host, port, password } = config;
  return url ? new WatchedRedis(url, options) : new WatchedRedis({ ...options, host, port, password });
}

/**
 * The optional Redis connection. Redis is a speed layer: when it is not
 * configured `client` is null, and when it is unreachable commands fail at
 * once (no offline queue) so callers fall back to PostgreSQL instead of waiting.
 * When it is connected but silent, the breaker (redis-breaker.ts) opens: callers
 * see it as not connected, and the commands in flight are given up.
 * ioredis reconnects on its own, and a probe tells when a silent Redis answers
 * again; either way Redis may have missed writes, so the `onReset` steps run
 * before callers may use it again, then the `onReady` listeners.
 */
@Injectable()
export class RedisService implements OnApplicationShutdown {
  private readonly logger = new Logger(RedisService.name);
  readonly client: RedisClient | null;
  private readonly readyListeners: Array<() => void> = [];
  private readonly resets: Array<() => Promise<unknown>> = [];
  private readonly breaker = new RedisBreaker<Command>();
  private lastErrorLoggedAt = 0;
  /** Redis answered since the last (re)connection or silence, and the resets ran: callers may use it. */
  private trusted = false;
  private comingBack = false;
  private probing = false;
  private silenceTimer?: NodeJS.Timeout;
  private readonly watchTimer?: NodeJS.Timeout;
  private lapses = 0;

  constructor(config: AppConfig) {
    if (config.redis.kind === 'disabled') {
      this.client = null;
      this.logger.warn('REDIS_URL/REDIS_HOST/REDIS_CLUSTER_NODES not set: running on PostgreSQL alone');
      return;
    }
    const client = connect(config.redis);
    this.client = client;
    client.onSend = (command) => this.watch(command);
    client.on('ready', () => void this.comeBack('Redis connected'));
    client.on('close', () => this.lapse());
    // A cluster node lost (its shard restarted or failed over): what it held may be gone or old.
    if (client instanceof Cluster) client.on('-node', () => this.lapse());
    client.on('error', (error: Error) => {
      // A down Redis raises an error per reconnect attempt; one line every 30 s is enough.
      if (Date.now() - this.lastErrorLoggedAt > 30_000) {
        this.lastErrorLoggedAt = Date.now();
        this.logger.warn(`Redis unavailable: ${error.message}`);
      }
    });
    client.connect().catch(() => undefined);
    // Also a PING while idle, so that a silent Redis is found before a request needs it.
    this.watchTimer = setInterval(() => this.tick(), REDIS_PROBE_EVERY_MS);
    this.watchTimer.unref();
  }

  /** Connected, answering and reset since it came back: callers may use Redis. */
  get isReady(): boolean {
    return this.connected && this.trusted;
  }

  /** Connected but not answering: every path uses PostgreSQL until a probe is answered. */
  get circuitOpen(): boolean {
    return this.breaker.isOpen;
  }

  /** How often the breaker has opened since start. */
  get circuitOpenings(): number {
    return this.breaker.openings;
  }

  /**
   * Counts the times Redis may have missed writes (a lost connection, a
   * silence): work that began under another count must not vouch for Redis.
   */
  get lapseCount(): number {
    return this.lapses;
  }

  private get connected(): boolean {
    return this.client?.status === 'ready' && !this.breaker.isOpen;
  }

  /**
   * Defines Lua scripts as commands of the client (each one round trip, by
   * EVALSHA) and returns the accessor to use them by: it gives the client,
   * or throws when Redis is not configured or not connected, which callers
   * treat as "Redis is down". A script without `numberOfKeys` takes the
   * number of its keys as its first argument.
   */
  withScripts<C>(scripts: { [K in keyof C]: { lua: string; numberOfKeys?: number } }): () => RedisClient & C {
    for (const [name, script] of Object.entries<{ lua: string; numberOfKeys?: number }>(scripts)) {
      this.client?.defineCommand(name, script);
      // Not auto-pipelined: a script call that times out inside an auto-pipeline leaves ioredis with fewer results
      // than callbacks, and it throws outside any caller (redis/ioredis#1931), taking the process down. Callers
      // batch their own calls (Batcher), so little is lost.
      this.client?.options.autoPipeliningIgnoredCommands?.push(name);
    }
    return () => {
      if (!this.client || !this.connected)
        throw new Error(this.breaker.isOpen ? 'Redis is not answering (circuit open)' : 'Redis is not connected');
      return this.client as RedisClient & C;
    };
  }

  /** Runs `listener` each time Redis can be used again: after a (re)connection, or once a silent Redis answers. */
  onReady(listener: () => void): void {
    this.readyListeners.push(listener);
  }

  /**
   * Runs `reset` each time Redis answers again, before any caller may use it
   * (for what Redis must not be trusted with until it is reconciled). A reset
   * that fails is tried again, with the others, a second later.
   */
  onReset(reset: () => Promise<unknown>): void {
    this.resets.push(reset);
  }

  /** PING with a hard deadline, so a hung Redis cannot hang the caller. */
  async ping(timeoutMs: number): Promise<boolean> {
    if (!this.client || !this.isReady) return false;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    try {
      return await Promise.race([this.client.ping().then((r) => r === 'PONG'), deadline]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.client) return;
    clearInterval(this.watchTimer);
    clearTimeout(this.silenceTimer);
    this.client.removeAllListeners('ready');
    // A silent Redis would hold QUIT for the command timeout.
    if (this.breaker.isOpen) return this.client.disconnect();
    await this.client.quit().catch(() => this.client?.disconnect());
  }

  /** Redis may have missed writes from here on: not used until it answers again and is reset. */
  private lapse(): void {
    this.trusted = false;
    this.lapses += 1;
    this.breaker.forget();
  }

  /** Shows the breaker a command going out and what comes back; checks for silence while something is owed. */
  private watch(command: Command): void {
    this.breaker.sent(command);
    command.promise.then(
      () => this.breaker.answered(command),
      (error: Error) => {
        if (error.name === 'ReplyError') return this.breaker.answered(command);
        this.breaker.dropped(command);
        if (error.message === 'Command timed out') this.trip('a command timed out');
      },
    );
    this.armSilenceCheck();
  }

  private armSilenceCheck(): void {
    const left = this.breaker.silentIn();
    if (left === null || this.silenceTimer) return;
    this.silenceTimer = setTimeout(
      () => {
        this.silenceTimer = undefined;
        if ((this.breaker.silentIn() ?? 1) > 0) return this.armSilenceCheck();
        // A busy event loop runs timers before it reads sockets: an answer already received counts first.
        setImmediate(() => {
          this.open(this.breaker.check(), `silent for ${REDIS_SILENCE_MS} ms`);
          this.armSilenceCheck();
        });
      },
      Math.max(left, 1),
    );
    this.silenceTimer.unref();
  }

  private trip(reason: string): void {
    this.open(this.breaker.trip(), reason);
  }

  /** The breaker just opened (`owed` is null when it was open already): the commands in flight are given up. */
  private open(owed: Command[] | null, reason: string): void {
    if (!owed) return;
    this.trusted = false;
    this.lapses += 1;
    this.logger.warn(`Redis stopped answering (${reason}): PostgreSQL alone until it answers again`);
    const error = new Error('Redis is not answering (circuit open)');
    for (const command of owed) command.reject(error);
    this.probe();
  }

  /** Every second: the probe while the breaker is open, a failed reset again, else a PING if nothing is owed. */
  private tick(): void {
    if (this.client?.status !== 'ready') return;
    if (this.breaker.isOpen) this.probe();
    else if (!this.trusted) void this.comeBack('Redis answers again');
    else if (this.breaker.silentIn() === null) this.client.ping().catch(() => undefined);
  }

  /** One PING at a time; once answered, every command sent before it has been done, and Redis can come back. */
  private probe(): void {
    if (this.probing || this.client?.status !== 'ready') return;
    this.probing = true;
    this.client.ping().then(
      () => {
        this.probing = false;
        if (this.breaker.isOpen) void this.comeBack('Redis answers again');
      },
      () => (this.probing = false),
    );
  }

  /**
   * Redis answers again (a new connection, or a probe after a silence). The
   * breaker closes first, so that the resets' own commands can go out;
   * callers wait on `trusted`, set once the resets are done; then the listeners.
   */
  private async comeBack(message: string): Promise<void> {
    if (this.comingBack) return;
    this.comingBack = true;
    this.trusted = false;
    this.breaker.close();
    try {
      for (const reset of this.resets) await reset();
    } catch (error) {
      this.logger.warn(`Redis answers, but could not be reset (tried again in a second): ${(error as Error).message}`);
      return;
    } finally {
      this.comingBack = false;
    }
    if (!this.connected) return;
    this.trusted = true;
    this.logger.log(message);
    for (const listener of this.readyListeners) listener();
  }
}
