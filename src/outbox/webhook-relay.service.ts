import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { randomInt } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Batcher } from '../common/batcher.js';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { StandardWebhook } from '../common/standard-webhook.js';
import { WebhookMessage, WebhookMessagesRepository } from './webhook-messages.repository.js';
import { WebhookSender } from './webhook-sender.js';

/** Each attempt gives up after this long. */
export const ATTEMPT_TIMEOUT_MS = 15_000;
/** A leased message is another process's to send for this long (longer than an attempt). */
const LEASE_SECONDS = 30;
/** Due messages are looked for this often, besides the wake-up after each commit. */
const POLL_EVERY_MS = 1_000;
/** Messages whose preparation failed are claimed again after this long. */
const PREPARE_RETRY_SECONDS = 5;
/**
 * Sends in flight at once (and connections to the receiver): enough to drain a
 * backlog at several times the assignment rate, while one slow answer holds only its own delivery.
 */
const IN_FLIGHT = 50;
/**
 * Claims are at least this far apart: under load, the commits of this many
 * milliseconds are claimed together instead of one claim per commit.
 */
const MIN_CLAIM_INTERVAL_MS = 10;

/**
 * Completes due messages before they are signed and sent (see WebhookRelay.usePreparer).
 * It answers the messages to send now, each with the body to send; it stores
 * what it adds, so every later attempt of a message sends the same body.
 */
export type MessagePreparer = (messages: WebhookMessage[]) => Promise<WebhookMessage[]>;

/** Seconds to wait before a retry: Retry-After's delay or date, when the receiver sent one. */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | null {
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, (at - now) / 1000);
}

/** The longest Retry-After honoured beyond the schedule's own wait: a receiver cannot park a message for days. */
export const MAX_RETRY_AFTER_SECONDS = 3_600;

/**
 * The wait before the next attempt: the schedule's (jittered) wait, or the
 * receiver's Retry-After when that is longer, up to the larger of the
 * scheduled wait and MAX_RETRY_AFTER_SECONDS.
 */
export function nextDelaySeconds(scheduled: number, retryAfter: number | null): number {
  const honoured = Math.min(retryAfter ?? 0, Math.max(scheduled, MAX_RETRY_AFTER_SECONDS));
  return Math.max(scheduled, honoured);
}

/**
 * Sends the outbox to VENDURE_WEBHOOK_URL, signed per Standard Webhooks with
 * VENDURE_WEBHOOK_SECRET and the message's stable id. Runs in every process:
 * woken after each commit and every second, with up to 50 sends in flight
 * and at most one claim per 10 ms. 2xx marks a message delivered (the
 * deliveries of concurrent sends are recorded together, in one statement);
 * anything else (3xx included), a timeout or a network error schedules the
 * next attempt by the retry schedule (or Retry-After, if later), with jitter,
 * until the last attempt dead-letters it as failed. Without a URL or secret
 * nothing is sent and messages stay pending.
 */
@Injectable()
export class WebhookRelay implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(WebhookRelay.name);
  private readonly signer?: StandardWebhook;
  private readonly sender?: WebhookSender;
  private readonly delivered = new Batcher<{ id: string; statusCode: number }>((items) => this.messages.markDelivered(items));
  private readonly recording = new Set<Promise<void>>();
  private lastClaimAt = 0;
  private timer?: NodeJS.Timeout;
  private draining?: Promise<void>;
  private again = false;
  private stopped = false;
  private readonly inFlight = new Set<AbortController>();
  /** Wakes a drain that is waiting for its sends, so it claims what became due meanwhile. */
  private kick?: () => void;
  private preparer?: MessagePreparer;

  constructor(
    private readonly config: AppConfig,
    private readonly messages: WebhookMessagesRepository,
    private readonly metrics: MetricsService,
  ) {
    if (config.vendureWebhookSecret) this.signer = new StandardWebhook(config.vendureWebhookSecret);
    if (config.vendureWebhookUrl) this.sender = new WebhookSender(config.vendureWebhookUrl, IN_FLIGHT);
    metrics.setWebhookStatsSource(() => this.messages.stats(), Boolean(this.enabled));
  }

  private get enabled(): boolean {
    return Boolean(this.sender && this.signer);
  }

  onApplicationBootstrap(): void {
    if (!this.enabled) {
      this.logger.warn('VENDURE_WEBHOOK_URL or VENDURE_WEBHOOK_SECRET is not set: delivery webhooks stay pending');
      return;
    }
    this.timer = setInterval(() => this.wake(), POLL_EVERY_MS);
    this.timer.unref();
    this.wake();
  }

  /** Stops sending while the database is still open; interrupted sends do not count as attempts. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    for (const controller of this.inFlight) controller.abort();
    await this.draining;
    await Promise.all(this.recording);
    this.sender?.close();
  }

  /**
   * Lets another module complete bodies before their first send, without the
   * outbox depending on it: the tracking module adds `etaSeconds` to
   * `delivery.assigned` and `delivery.picked_up`.
   */
  usePreparer(preparer: MessagePreparer): void {
    this.preparer = preparer;
  }

  /**
   * The claimed messages, prepared. If preparing fails (the database is away),
   * none is sent now, so no body is ever sent unprepared: they are given back
   * without the claim counting as an attempt, to be claimed again after
   * PREPARE_RETRY_SECONDS.
   */
  private async prepared(claimed: WebhookMessage[]): Promise<WebhookMessage[]> {
    if (!this.preparer || claimed.length === 0) return claimed;
    try {
      return await this.preparer(claimed);
    } catch (error) {
      this.logger.warn(
        `Webhook relay: could not prepare ${claimed.length} message(s), trying again in ${PREPARE_RETRY_SECONDS} s: ${(error as Error).message}`,
      );
      const ids = claimed.map((message) => message.id);
      await this.messages.returnUnsent(ids, PREPARE_RETRY_SECONDS).catch(() => undefined);
      return [];
    }
  }

  /** Looks for due messages now (called after every commit that wrote one). */
  wake(): void {
    if (!this.enabled || this.stopped) return;
    if (this.draining) {
      this.again = true;
      this.kick?.();
      return;
    }
    this.draining = this.drain()
      .catch((error: Error) => this.logger.warn(`Webhook relay: ${error.message}`))
      .finally(() => {
        this.draining = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          this.wake();
        }
      });
  }

  /**
   * Keeps up to IN_FLIGHT sends in flight, claiming more as each one ends or a
   * commit wakes the relay, so one slow receiver answer (up to the attempt
   * timeout) holds only its own delivery's messages, never the others.
   */
  private async drain(): Promise<void> {
    const sending = new Set<Promise<void>>();
    for (;;) {
      if (!this.stopped && sending.size < IN_FLIGHT) {
        const sinceLastClaim = Date.now() - this.lastClaimAt;
        if (sinceLastClaim < MIN_CLAIM_INTERVAL_MS) await delay(MIN_CLAIM_INTERVAL_MS - sinceLastClaim);
        // Shutdown may have begun during the wait: lease nothing it would not see through.
        if (this.stopped) continue;
        this.again = false;
        this.lastClaimAt = Date.now();
        const wanted = IN_FLIGHT - sending.size;
        const claimed = await this.messages.claimDue(wanted, LEASE_SECONDS);
        for (const message of await this.prepared(claimed)) {
          const sent: Promise<void> = this.send(message)
            .catch((error: Error) => this.logger.warn(`Webhook relay: ${message.id}: ${error.message}`))
            .finally(() => sending.delete(sent));
          sending.add(sent);
        }
        // A claim that got all it asked for may have left more behind; one that got less has taken every due message.
        if (claimed.length === wanted || this.again) continue;
      }
      if (sending.size === 0) return;
      // On with the next claim when a send ends, or when a commit or the poll timer wakes the relay.
      await Promise.race([...sending, new Promise<void>((resolve) => (this.kick = resolve))]);
      this.kick = undefined;
    }
  }

  private async send(message: WebhookMessage): Promise<void> {
    const body = JSON.stringify(message.payload);
    const timestamp = Math.floor(Date.now() / 1000);
    const controller = new AbortController();
    const timeout = setTimeout(() => controller.abort(new Error(`timed out after ${ATTEMPT_TIMEOUT_MS} ms`)), ATTEMPT_TIMEOUT_MS);
    this.inFlight.add(controller);
    let statusCode: number | null = null;
    let error: string;
    let retryAfter: number | null = null;
    try {
      const response = await this.sender!.post(
        {
          'content-type': 'application/json',
          'webhook-id': message.id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': this.signer!.sign(message.id, timestamp, body),
          ...(message.requestId ? { 'x-request-id': message.requestId } : {}),
        },
        body,
        controller.signal,
      );
      statusCode = response.statusCode;
      if (statusCode >= 200 && statusCode < 300) {
        this.metrics.webhookAttempt();
        this.recordDelivered(message.id, statusCode);
        return;
      }
      error = `HTTP ${statusCode}`;
      retryAfter = retryAfterSeconds(response.retryAfter);
    } catch (caught) {
      if (this.stopped) {
        await this.messages.releaseUnsent(message.id).catch(() => undefined);
        return;
      }
      error = (controller.signal.reason as Error | undefined)?.message ?? (caught as Error).message;
    } finally {
      clearTimeout(timeout);
      this.inFlight.delete(controller);
    }
    await this.recordFailure(message, statusCode, error, retryAfter);
  }

  /**
   * Records a delivery without holding the send's slot: deliveries of
   * concurrent sends go in one statement. The message stays leased until
   * then, and the next message of its delivery becomes due only once it is
   * recorded, so the relay looks again after each write.
   */
  private recordDelivered(id: string, statusCode: number): void {
    const recorded: Promise<void> = this.delivered
      .add({ id, statusCode })
      .then(() => this.wake())
      .catch((error: Error) => this.logger.warn(`Webhook relay: could not record ${id} as delivered: ${error.message}`))
      .finally(() => this.recording.delete(recorded));
    this.recording.add(recorded);
  }

  private async recordFailure(message: WebhookMessage, statusCode: number | null, error: string, retryAfter: number | null) {
    this.metrics.webhookAttempt();
    const schedule = this.config.webhookRetryScheduleSeconds;
    const final = message.attempts >= schedule.length;
    const wait = final ? 0 : schedule[message.attempts];
    // ±10 % jitter, so a receiver coming back is not hit by every sender at once.
    const jittered = wait * (0.9 + randomInt(0, 201) / 1000);
    const delaySeconds = nextDelaySeconds(jittered, retryAfter);
    if (final) {
      this.metrics.webhookDeadLettered();
      this.logger.warn(`Webhook ${message.id} (${message.type}) failed after ${message.attempts} attempts: ${error}`);
    }
    await this.messages.markAttemptFailed(message.id, {
      statusCode,
      error,
      nextAttemptAt: new Date(Date.now() + delaySeconds * 1000),
      final,
    });
  }
}
