import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AppConfig } from '../config/app-config.js';
import type { MetricsService } from '../metrics/metrics.service.js';
import type { WebhookMessage, WebhookMessagesRepository } from './webhook-messages.repository.js';
import { MAX_RETRY_AFTER_SECONDS, nextDelaySeconds, WebhookRelay } from './webhook-relay.service.js';

/**
 * The relay's shutdown order, as pure logic: the outbox is a stand-in whose
 * delivery records the test completes by hand; the receiver is a real local
 * HTTP server. The relay against real PostgreSQL is test/webhooks*.e2e-spec.ts.
 */
const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

const message = (id: string): WebhookMessage => ({
  id,
  deliveryId: '00000000-0000-4000-8000-000000000001',
  deliverySeq: 1,
  type: 'delivery.assigned',
  payload: { type: 'delivery.assigned' },
  requestId: null,
  status: 'pending',
  attempts: 1,
  nextAttemptAt: new Date(),
  lastStatusCode: null,
  lastError: null,
  createdAt: new Date(),
  deliveredAt: null,
  failedAt: null,
});

/** Settles on the second turn of the event loop: long after anything that waits on promises alone. */
const twoTurns = () => new Promise<'pending'>((resolve) => setImmediate(() => setImmediate(() => resolve('pending'))));

describe('WebhookRelay shutdown', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  });

  it('waits for the deliveries it has yet to record before the database may close', async () => {
    let received = 0;
    server = createServer((req, res) => {
      received += 1;
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;

    const due = [message('msg_1')];
    let recorded: (() => void) | undefined;
    let askedToRecord: (items: { id: string }[]) => void = () => undefined;
    const recordAsked = new Promise<{ id: string }[]>((resolve) => (askedToRecord = resolve));
    const outbox = {
      claimDue: () => Promise.resolve(due.splice(0)),
      markDelivered: (items: { id: string }[]) => {
        askedToRecord(items);
        return new Promise<void>((resolve) => (recorded = resolve));
      },
      stats: () => Promise.resolve({ pending: 0, failed: 0, oldestPendingSeconds: 0 }),
      markAttemptFailed: () => Promise.resolve(),
      releaseUnsent: () => Promise.resolve(),
    } as unknown as WebhookMessagesRepository;
    const metrics = { setWebhookStatsSource: () => undefined, webhookAttempt: () => undefined, webhookDeadLettered: () => undefined };
    const config = { vendureWebhookUrl: url, vendureWebhookSecret: SECRET, webhookRetryScheduleSeconds: [0, 5] } as unknown as AppConfig;
    const relay = new WebhookRelay(config, outbox, metrics as unknown as MetricsService);

    relay.wake();
    expect(await recordAsked).toEqual([{ id: 'msg_1', statusCode: 204 }]);
    expect(received).toBe(1);

    const shutdown = relay.beforeApplicationShutdown().then(() => 'done' as const);
    expect(await Promise.race([shutdown, twoTurns()])).toBe('pending');
    recorded!();
    expect(await shutdown).toBe('done');
  });
});

describe(nextDelaySeconds.name, () => {
  it("waits the schedule's time, or a longer Retry-After", () => {
    expect(nextDelaySeconds(300, null)).toBe(300);
    expect(nextDelaySeconds(300, 120)).toBe(300);
    expect(nextDelaySeconds(5, 600)).toBe(600);
  });

  it('honours a Retry-After only up to an hour, or the scheduled wait when that is longer', () => {
    expect(nextDelaySeconds(5, 7 * 86_400)).toBe(MAX_RETRY_AFTER_SECONDS);
    expect(nextDelaySeconds(7_200, 7 * 86_400)).toBe(7_200);
  });
});
