import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';

import { DriverServiceError, sellerOrderCancelled, sellerOrderReady } from '../src';
import { ADMIN_API_KEY, DriverService, WEBHOOK_SECRET } from './support/driver-service';

const PICKUP = { lat: 52.52, lon: 13.405 };
type Fault = 'lose-answer' | '503' | '429';

/**
 * Between the client and the real service: each request is forwarded, or met
 * with the next planned fault. 'lose-answer' forwards it (the service acts)
 * and then drops the connection, so the answer never arrives.
 */
async function faultyFront(target: string) {
    const plan: Fault[] = [];
    const seen: Array<{ webhookId: string; outcome: string }> = [];
    const server = http.createServer(async (req, res) => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        const fault = plan.shift();
        const webhookId = String(req.headers['webhook-id']);
        if (fault === '503' || fault === '429') {
            seen.push({ webhookId, outcome: fault });
            res.writeHead(Number(fault), { 'content-type': 'application/json', ...(fault === '429' ? { 'retry-after': '1' } : {}) });
            return void res.end(JSON.stringify({ code: fault === '503' ? 'DATABASE_UNAVAILABLE' : 'RATE_LIMITED' }));
        }
        const headers = Object.fromEntries(Object.entries(req.headers).filter(([name]) => !['host', 'content-length', 'connection'].includes(name))) as Record<string, string>;
        const answer = await fetch(new URL(req.url!, target), { method: req.method, headers, body: Buffer.concat(chunks) });
        const text = await answer.text();
        seen.push({ webhookId, outcome: fault ?? String(answer.status) });
        if (fault === 'lose-answer') return void res.socket?.destroy();
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(text);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    return { url: `http://127.0.0.1:${port}`, plan, seen, close: () => new Promise(done => server.close(done)) };
}

/** The plugin's client against the real service: what it retries, with which webhook-id, and what it does not. */
describe('the driver service client', () => {
    const service = new DriverService('http://127.0.0.1:9/unused');
    let front: Awaited<ReturnType<typeof faultyFront>>;
    const options = () => ({ baseUrl: front.url, secret: WEBHOOK_SECRET, adminApiKey: ADMIN_API_KEY, retryDelaysMs: [10, 10, 10] });

    before(async () => {
        await service.start();
        front = await faultyFront(service.url);
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
