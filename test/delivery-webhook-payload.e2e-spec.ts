import { beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import request from 'supertest';
import { EVENT_TYPES } from '../src/deliveries/delivery-state-machine.js';
import { deliveryWebhookProblems } from '../src/deliveries/delivery-webhook.js';
import type { DeliveryStatus } from '../src/deliveries/delivery.entity.js';
import { availableDriver as availableDriverAt } from './support/factories.js';
import { sendEvent } from './support/fleet.js';
import { useServiceEnvironment } from './support/service-environment.js';
import { admin, TestApp } from './support/test-app.js';

const BERLIN = { lat: 52.52, lon: 13.405 };

/**
 * What `record_delivery_change` (deliveries.sql) writes as the webhook body
 * is a DeliveryWebhookPayload, field for field, for every kind of change,
 * with and without a channel.
 */
describe('the delivery webhook payload built in SQL', () => {
  const env = useServiceEnvironment('webhook_payload');
  let sql: pg.Client;
  let t: TestApp;
  const http = () => request(t.server);

  beforeAll(() => {
    ({ sql, t } = env);
  });
  beforeEach(() => env.reset());

  const availableDriver = () => availableDriverAt(t, BERLIN);
  async function assign(sellerOrderId: string, extra: Record<string, unknown> = {}, requestId?: string): Promise<string> {
    const call = sendEvent(t, 'seller-order-ready', { sellerOrderId, pickupLat: BERLIN.lat, pickupLon: BERLIN.lon, ...extra });
    const answer = await (requestId ? call.set('x-request-id', requestId) : call).expect(200);
    expect(answer.body.assigned).toBe(true);
    return answer.body.deliveryId;
  }
  const move = (deliveryId: string, status: string, requestId?: string) => {
    const call = http().patch(`/deliveries/${deliveryId}/status`).set(admin);
    return (requestId ? call.set('x-request-id', requestId) : call).send({ status, reason: 'test' }).expect(200);
  };

  it('is a DeliveryWebhookPayload for every change, and says what the delivery row says', async () => {
    for (let i = 0; i < 4; i++) await availableDriver();
    const delivered = await assign('SO-1', { channelId: 'default' }, 'req-assign-1');
    await move(delivered, 'PICKED_UP', 'req-pickup-1');
    await move(delivered, 'DELIVERED');
    const failed = await assign('SO-2');
    await move(failed, 'FAILED', 'req-fail-2');
    const cancelledByOperator = await assign('SO-3', { dropoffLat: 52.5, dropoffLon: 13.4 });
    await move(cancelledByOperator, 'CANCELLED');
    await assign('SO-4', { channelId: 'b2b' });
    await sendEvent(t, 'seller-order-cancelled', { sellerOrderId: 'SO-4' }).set('x-request-id', 'req-cancel-4').expect(200);

    const { rows } = await sql.query(
      `SELECT m.type, m.payload, m.request_id, e.to_status, d.id, d.seller_order_id, d.channel_id, d.driver_id, d.distance_meters,
              d.attempt, e.data->>'reason' AS event_reason
       FROM webhook_messages m JOIN deliveries d ON d.id = m.delivery_id
       JOIN delivery_events e ON e.delivery_id = m.delivery_id AND e.seq = m.delivery_seq
       ORDER BY m.created_at, m.delivery_seq`,
    );
    expect(rows.map((row) => row.type).sort()).toEqual(
      ['assigned', 'assigned', 'assigned', 'assigned', 'picked_up', 'delivered', 'failed', 'cancelled', 'cancelled']
        .map((s) => `delivery.${s}`)
        .sort(),
    );
    for (const row of rows) {
      expect({ type: row.type, problems: deliveryWebhookProblems(row.payload) }).toEqual({ type: row.type, problems: [] });
      const expectedData: Record<string, unknown> = {
        deliveryId: row.id,
        sellerOrderId: row.seller_order_id,
        channelId: row.channel_id,
        driverId: row.driver_id,
        status: row.to_status,
        distanceMeters: row.distance_meters,
        occurredAt: row.payload.timestamp,
        attempt: row.attempt,
        ...(row.request_id ? { requestId: row.request_id } : {}),
        ...(row.event_reason ? { reason: row.event_reason } : {}),
      };
      expect(row.payload).toEqual({
        type: EVENT_TYPES[row.to_status as DeliveryStatus],
        timestamp: row.payload.timestamp,
        data: expectedData,
      });
    }
    // The caller's x-request-id where it sent one, the one the service gave the request otherwise.
    const requestIds = rows.map((row) => row.payload.data.requestId as string);
    expect(requestIds.filter((id) => id.startsWith('req-')).sort()).toEqual(['req-assign-1', 'req-cancel-4', 'req-fail-2', 'req-pickup-1']);
    expect(requestIds.filter((id) => !id.startsWith('req-'))).toHaveLength(5);
  });

  it('the check names what differs from the type', () => {
    const payload = {
      type: 'delivery.assigned',
      timestamp: '2026-01-01T00:00:00.000Z',
      data: {
        deliveryId: '00000000-0000-4000-8000-000000000000',
        sellerOrderId: 'SO-1',
        channelId: null,
        driverId: '00000000-0000-4000-8000-000000000001',
        status: 'ASSIGNED',
        distanceMeters: 12.5,
        occurredAt: '2026-01-01T00:00:00.000Z',
        attempt: 1,
      },
    };
    expect(deliveryWebhookProblems(payload)).toEqual([]);
    const withoutOrder: Partial<typeof payload.data> = { ...payload.data };
    delete withoutOrder.sellerOrderId;
    expect(deliveryWebhookProblems({ ...payload, data: { ...withoutOrder, extra: 1 } })).toEqual([
      'data.extra is not a field of the payload',
      'data.sellerOrderId is missing',
    ]);
    expect(deliveryWebhookProblems({ ...payload, type: 'delivery.lost', timestamp: '2026-01-01' })).toEqual([
      'type is not valid: "delivery.lost"',
      'timestamp is not valid: "2026-01-01"',
    ]);
  });
});
