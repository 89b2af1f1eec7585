import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { useServiceCluster } from './support/service-cluster.js';
import { signedHeaders } from './support/signing.js';
import { SseClient } from './support/sse-client.js';
import { ADMIN_KEY, VENDURE_SECRET } from './support/test-app.js';
import { eventually } from './support/eventually.js';

const PICKUP = { lat: 52.52, lon: 13.405 };
const START = { lat: 52.51, lon: 13.39 };

/**
 * Tracking streams across two built service processes on one PostgreSQL and
 * one Redis, as PM2 runs them: a stream held by one process carries what is
 * done through the other, Redis up or down; each process keeps its own limit.
 */
describe('tracking streams across two service processes', () => {
  const cluster = useServiceCluster('tracking_processes', {
    processes: 2,
    env: {
      VENDURE_WEBHOOK_SECRET: VENDURE_SECRET,
      ADMIN_API_KEY: ADMIN_KEY,
      TRACKING_MAX_STREAMS: '3',
      LOCATION_MAX_SPEED_KMH: '0',
      // A drain held up by an open stream would wait this long (10 minutes): longer than the test may take.
      SHUTDOWN_TIMEOUT_MS: '600000',
    },
  });
  const streams: SseClient[] = [];
  afterEach(() => streams.splice(0).forEach((stream) => stream.close()));

  const call = async (target: number, method: string, path: string, body?: object) => {
    const response = await fetch(`${cluster.bases[target]}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const ok = async (target: number, method: string, path: string, body?: object) => {
    const answer = await call(target, method, path, body);
    expect({ path, status: answer.status }).toEqual({ path, status: method === 'POST' && !path.startsWith('/events') ? 201 : 200 });
    return answer.body;
  };
  const open = async (target: number, token: string) => {
    const client = await SseClient.open(`${cluster.bases[target]}/track/${token}/events`);
    streams.push(client);
    return client;
  };

  let sequence = 0;
  /** A driver made AVAILABLE and an order assigned through process 1, and a link to it made there. */
  async function trackedDelivery() {
    sequence++;
    const driver = await ok(1, 'POST', '/drivers', {
      name: `Driver ${sequence}`,
      phone: `+4915190000${String(sequence).padStart(3, '0')}`,
    });
    await ok(1, 'PATCH', `/drivers/${String(driver.id)}/location`, START);
    await ok(1, 'PATCH', `/drivers/${String(driver.id)}/status`, { status: 'AVAILABLE' });
    const order = { sellerOrderId: `TP-${sequence}`, pickupLat: PICKUP.lat, pickupLon: PICKUP.lon };
    const raw = JSON.stringify(order);
    const ready = await fetch(`${cluster.bases[1]}/events/seller-order-ready`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signedHeaders(VENDURE_SECRET, raw) },
      body: raw,
    });
    const answer = (await ready.json()) as { assigned: boolean; deliveryId: string; driverId: string };
    // This driver, or one an earlier test freed at the same place.
    expect(answer.assigned).toBe(true);
    const link = await ok(1, 'POST', `/deliveries/${answer.deliveryId}/tracking-links`, {});
    return { driverId: answer.driverId, deliveryId: answer.deliveryId, token: link.token as string };
  }

  beforeAll(async () => {
    await eventually(async () => (await cluster.redis.exists('drivers:synced')) === 1, { what: 'start-up reconciliation' });
  });

  it('each process holds at most TRACKING_MAX_STREAMS streams: the next is 429 there, and welcome in the other', async () => {
    const { token } = await trackedDelivery();
    for (let i = 0; i < 3; i++) expect((await open(0, token)).status).toBe(200);
    const refused = await fetch(`${cluster.bases[0]}/track/${token}/events`);
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { code: string }).code).toBe('TOO_MANY_STREAMS');
    expect(refused.headers.get('retry-after')).toBe('5');
    expect((await open(1, token)).status).toBe(200);
  });

  it('a stream held by process 0 carries what is done through process 1: positions, the pickup, and, with Redis down, the delivery', async () => {
    const { driverId, deliveryId, token } = await trackedDelivery();
    const events = await open(0, token);
    await events.waitForStatus('ASSIGNED');
    await ok(1, 'PATCH', `/drivers/${driverId}/location`, { lat: 52.515, lon: 13.4 });
    await events.waitFor((e) => e.type === 'position' && e.data.lat === 52.515, 'the position sent to process 1');
    await ok(1, 'PATCH', `/deliveries/${deliveryId}/status`, { status: 'PICKED_UP' });
    await events.waitForStatus('PICKED_UP');

    // Streams never needed Redis: with it gone, the change still arrives.
    await cluster.redisServer.stop();
    await ok(1, 'PATCH', `/deliveries/${deliveryId}/status`, { status: 'DELIVERED' });
    await events.waitForStatus('DELIVERED');
    await events.waitFor((e) => e.type === 'end', 'the end');
    expect(events.statuses()).toEqual(['ASSIGNED', 'PICKED_UP', 'DELIVERED']);
    await cluster.redisServer.start();
  });

  it('a stopping process ends its streams when its drain begins, so they do not hold it up; the client resumes on the other', async () => {
    const { deliveryId, token } = await trackedDelivery();
    const events = await open(0, token);
    const assignedEvent = await events.waitForStatus('ASSIGNED');
    expect(await cluster.services[0].stop()).toBe(0);
    expect(events.ended).toBe(true);
    await ok(1, 'PATCH', `/deliveries/${deliveryId}/status`, { status: 'PICKED_UP' });
    // As an EventSource reconnects: to the process still serving, from the last id it saw.
    const resumed = await SseClient.open(`${cluster.bases[1]}/track/${token}/events`, { 'last-event-id': assignedEvent.id! });
    streams.push(resumed);
    await resumed.waitForStatus('PICKED_UP');
    expect(resumed.statuses()).toEqual(['PICKED_UP']);
  });
});
