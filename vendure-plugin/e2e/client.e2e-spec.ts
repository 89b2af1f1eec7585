import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { DriverServiceError, sellerOrderCancelled, sellerOrderReady } from '../src';
import { ADMIN_API_KEY, DriverService, WEBHOOK_SECRET } from './support/driver-service';
import { serviceFront } from './support/service-front';

const PICKUP = { lat: 52.52, lon: 13.405 };
/** The plugin's client against the real service: what it retries, with which webhook-id, and what it does not. */
describe('the driver service client', () => {
    const service = new DriverService('http://127.0.0.1:9/unused');
    let front: Awaited<ReturnType<typeof serviceFront>>;
    const options = () => ({ baseUrl: front.url, secret: WEBHOOK_SECRET, adminApiKey: ADMIN_API_KEY, retryDelaysMs: [10, 10, 10] });

    before(async () => {
        await service.start();
        front = await serviceFront(service.url);
    });
    after(async () => {
        await front?.close();
        await service.stop();
    });

    it('retries a lost answer, a 503 and a 429 with one webhook-id; the service answers the repeat with the first answer', async () => {
        const driver = await service.newDriver('Lin Retry');
        await service.available(driver, PICKUP);
        front.plan.push('lose-answer', '503', '429');

        const answer = await sellerOrderReady(options(), { sellerOrderId: 'SO-CLIENT-1', pickupLat: PICKUP.lat, pickupLon: PICKUP.lon });

        assert.deepEqual(front.seen.map(s => s.outcome), ['lose-answer', '503', '429', '200']);
        assert.equal(new Set(front.seen.map(s => s.webhookId)).size, 1);
        assert.equal(answer.assigned, true);
        const { body } = await service.call<{ items: Array<{ id: string; driverId: string }> }>('GET', '/deliveries?sellerOrderId=SO-CLIENT-1', ADMIN_API_KEY);
        assert.deepEqual(body.items.map(d => [d.id, d.driverId]), [[(answer as { deliveryId: string }).deliveryId, driver.id]]);
    });

    it('does not retry a final answer: cancelling an order the service never had is DELIVERY_NOT_FOUND after one request', async () => {
        front.seen.length = 0;
        const error = await sellerOrderCancelled(options(), 'SO-NEVER').catch((e: unknown) => e);
        assert.ok(error instanceof DriverServiceError);
        assert.deepEqual([error.status, error.code, error.retryable], [404, 'DELIVERY_NOT_FOUND', false]);
        assert.equal(front.seen.length, 1);
    });
});
