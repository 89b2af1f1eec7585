import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { Redis, RedisOptions } from 'ioredis';
import { AppConfig } from '../config/app-config.js';

/**
 * The optional Redis connection. Redis is a speed layer: when it is not
 * configured `client` is null, and when it is unreachable commands fail at
 * once (no offline queue) so callers fall back to PostgreSQL instead of waiting.
 * ioredis reconnects on its own; `onReady` listeners run after every (re)connect.
 */
@Injectable()
export class RedisService implements OnApplicationShutdown {
  private readonly logger = new Logger(RedisService.name);
  readonly client: Redis | null;
  private readonly readyListeners: Array<() => void> = [];
  private lastErrorLoggedAt = 0;

  constructor(config: AppConfig) {
    if (config.redis.kind === 'disabled') {
      this.client = null;
      this.logger.warn('REDIS_URL/REDIS_HOST not set: running on PostgreSQL alone');
      return;
    }
    const options: RedisOptions = {
      keyPrefix: config.redis.keyPrefix || undefined,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2_000,
      commandTimeout: 2_000,
      // Keep trying for as long as the process lives; back off to one attempt every 2 s.
      retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
      lazyConnect: true,
      // Commands issued in the same tick (many location updates at once) go out in one write.
      enableAutoPipelining: true,
      // This client's own list (withScripts adds the scripts), not ioredis' shared default.
      autoPipeliningIgnoredCommands: [],
    };
    const { url, host, port, password } = config.redis;
    this.client = url ? new Redis(url, options) : new Redis({ ...options, host, port, password });
    this.client.on('ready', () => {
      this.logger.log('Redis connected');
      for (const listener of this.readyListeners) listener();
    });
    this.client.on('error', (error: Error) => {
      // A down Redis raises an error per reconnect attempt; one line every 30 s is enough.
      if (Date.now() - this.lastErrorLoggedAt > 30_000) {
        this.lastErrorLoggedAt = Date.now();
        this.logger.warn(`Redis unavailable: ${error.message}`);
      }
    });
    this.client.connect().catch(() => undefined);
  }

  get isReady(): boolean {
    return this.client?.status === 'ready';
  }

  /**
   * Defines Lua scripts as commands of the client (each one round trip, by
   * EVALSHA) and returns the accessor to use them by: it gives the client,
   * or throws when Redis is not configured or not connected, which callers
   * treat as "Redis is down". A script without `numberOfKeys` takes the
   * number of its keys as its first argument.
   */
  withScripts<C>(scripts: { [K in keyof C]: { lua: string; numberOfKeys?: number } }): () => Redis & C {
    for (const [name, script] of Object.entries<{ lua: string; numberOfKeys?: number }>(scripts)) {
      this.client?.defineCommand(name, script);
      // Not auto-pipelined: a script call that times out inside an auto-pipeline leaves ioredis with fewer results
      // than callbacks, and it throws outside any caller (redis/ioredis#1931), taking the process down. Callers
      // batch their own calls (Batcher), so little is lost.
      this.client?.options.autoPipeliningIgnoredCommands?.push(name);
    }
    return () => {
      if (!this.client || !this.isReady) throw new Error('Redis is not connected');
      return this.client as Redis & C;
    };
  }

  /** Runs `listener` after each successful (re)connection. */
  onReady(listener: () => void): void {
    this.readyListeners.push(listener);
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
    this.client.removeAllListeners('ready');
    await this.client.quit().catch(() => this.client?.disconnect());
  }
}
