import { defaultFulfillmentProcess, FulfillmentProcess, FulfillmentState, mergeConfig } from '@vendure/core';
import { InMemoryJobQueueStrategy } from '@vendure/core/dist/job-queue/in-memory-job-queue-strategy';
import { createTestEnvironment, registerInitializer, SqljsInitializer, testConfig } from '@vendure/testing';
import gql from 'graphql-tag';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { DriverIntegrationPlugin, signedHeaders, WEBHOOK_PATH } from '../src';
import { initialData } from './fixtures/initial-data';
import { ADMIN_API_KEY, Driver, DriverService, freePort, WEBHOOK_SECRET } from './support/driver-service';
import { TestSellerStrategy } from './support/seller-strategy';
import { serviceFront } from './support/service-front';
import { ShopPostgres } from './support/shop-postgres';
import { settleAtOncePaymentHandler } from './support/settle-at-once-payment';
import { ADMIN_ORDER, CANCEL_ORDER, createSeller, eventually, placePaidOrder, products, REASSIGN, setDefaultPickup, SHOP_ORDER } from './support/shop';

/** Vendure's own database: sql.js by default, the local PostgreSQL with E2E_VENDURE_DB=postgres (CI runs both). */
const onPostgres = process.env.E2E_VENDURE_DB === 'postgres';
const shopPostgres = new ShopPostgres();
if (onPostgres) registerInitializer('postgres', shopPostgres);
else registerInitializer('sqljs', new SqljsInitializer(path.join(__dirname, '__data__')));
const vendureDatabase = onPostgres
    ? { type: 'postgres' as const, host: '127.0.0.1', port: 5432, username: 'postgres', password: '', database: 'unused', synchronize: true }
    : testConfig.dbConnectionOptions;

const SHOP = { lat: 52.52, lon: 13.405 };
const PIZZA_PLACE = { lat: 52.535, lon: 13.38 };
const FLOWER_SHOP = { lat: 52.5, lon: 13.45 };
const CUSTOMER = { lat: 52.51, lon: 13.39 };
const near = (point: { lat: number; lon: number }, metres = 100) => ({ lat: point.lat + metres / 111_000, lon: point.lon });

/** What the plugin sends as maxWaitSeconds, set per test. */
const dispatch = { maxWaitSeconds: 0 };

/** Fails the next `pending` moves to Shipped, as a shop database that is briefly unavailable would. */
const hiccups = { pending: 0 };
const hiccupingFulfillmentProcess: FulfillmentProcess<FulfillmentState> = {
    onTransitionEnd(fromState, toState) {
        if (toState === 'Shipped' && hiccups.pending > 0) {
            hiccups.pending -= 1;
            throw new Error('the shop database is busy');
        }
    },
};

/**
 * The plugin inside a real Vendure server (@vendure/testing, sql.js), against
 * the real driver service built from this repository, started as a process on
 * the local PostgreSQL and Redis. Every step is observed from outside: through
 * Vendure's GraphQL APIs and the service's HTTP API.
 */
describe(`DriverIntegrationPlugin (Vendure on ${onPostgres ? 'PostgreSQL' : 'sql.js'})`, () => {
    let vendurePort: number;
    let service: DriverService;
    /** The plugin reaches the service through this front, which can hold a request. */
    let front: Awaited<ReturnType<typeof serviceFront>>;
    let env: ReturnType<typeof createTestEnvironment>;
    let catalog: Awaited<ReturnType<typeof products>>;
    const drivers: Driver[] = [];

    const adminOrder = async (id: string) => (await env.adminClient.query(ADMIN_ORDER, { id })).order;
    const webhookUrl = () => `http://127.0.0.1:${vendurePort}${WEBHOOK_PATH}`;
    const postWebhook = (headers: Record<string, string>, body: string) =>
        fetch(webhookUrl(), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

    /** A new driver, AVAILABLE at `point`; every other driver of this file is set OFFLINE first, so the choice is known. */
    async function onlyDriverAt(name: string, point: { lat: number; lon: number }): Promise<Driver> {
        await everyoneOffline();
        const driver = await service.newDriver(name);
        drivers.push(driver);
        await service.available(driver, point);
        return driver;
    }
    async function everyoneOffline(): Promise<void> {
        for (const driver of drivers) {
            const { status } = await service.driver(driver.id);
            if (status === 'AVAILABLE') await service.call('PATCH', `/drivers/${driver.id}/status`, driver.token, { status: 'OFFLINE' });
        }
    }
    const assignedOrder = (orderId: string) =>
        eventually(`order ${orderId} assigned, with a fulfillment`, async () => {
            const order = await adminOrder(orderId);
            return order.driverDelivery?.status === 'ASSIGNED' && order.fulfillments.length === 1 && order;
        });

    before(async () => {
        vendurePort = await freePort();
        service = new DriverService(`http://127.0.0.1:${vendurePort}${WEBHOOK_PATH}`);
        await service.start();
        front = await serviceFront(service.url);
        env = createTestEnvironment(
            mergeConfig(testConfig, {
                apiOptions: { port: vendurePort },
                dbConnectionOptions: vendureDatabase,
                paymentOptions: { paymentMethodHandlers: [settleAtOncePaymentHandler] },
                shippingOptions: { process: [defaultFulfillmentProcess, hiccupingFulfillmentProcess] },
                orderOptions: { orderSellerStrategy: new TestSellerStrategy() },
                // Several jobs at once, as with several workers: a cancellation can overtake a ready send.
                jobQueueOptions: { jobQueueStrategy: new InMemoryJobQueueStrategy({ concurrency: 3, pollInterval: 50 }) },
                plugins: [
                    DriverIntegrationPlugin.init({
                        serviceUrl: front.url,
                        webhookSecret: WEBHOOK_SECRET,
                        adminApiKey: ADMIN_API_KEY,
                        dispatch: () => ({ maxWaitSeconds: dispatch.maxWaitSeconds }),
                        retry: { initialDelayMs: 200, maxDelayMs: 400, pollIntervalMs: 50 },
                    }),
                ],
            }),
        );
        await env.server.init({ initialData, productsCsvPath: path.join(__dirname, '../../e2e/fixtures/products.csv'), customerCount: 1 });
        await env.adminClient.asSuperAdmin();
        await setDefaultPickup(env.adminClient, SHOP);
        catalog = await products(env.adminClient);
    });

    after(async () => {
        await env?.server.destroy();
        await front?.close();
        await service?.stop();
        if (onPostgres) await shopPostgres.drop();
    });

    it('answers 401 to a webhook that is unsigned, signed with another secret, or altered after signing', async () => {
        const body = JSON.stringify({ type: 'delivery.cancelled', timestamp: new Date().toISOString(), data: { deliveryId: 'x', sellerOrderId: 'x', status: 'CANCELLED' } });
        const otherSecret = `whsec_${randomBytes(32).toString('base64')}`;
        const unsigned = await postWebhook({}, body);
        const forged = await postWebhook(signedHeaders(otherSecret, 'msg_forged', body), body);
        const altered = await postWebhook(signedHeaders(WEBHOOK_SECRET, 'msg_altered', body), body.replace('CANCELLED', 'DELIVERED'));
        assert.deepEqual([unsigned.status, forged.status, altered.status], [401, 401, 401]);
        // Signed with the right secret, it gets past the check (and is acknowledged: no such order), laid out
        // as no JSON serialiser would: the signature is checked over the bytes received, not re-serialised JSON.
        const spaced = JSON.stringify(JSON.parse(body), null, 3).replace('{', '{ \t');
        assert.equal((await postWebhook(signedHeaders(WEBHOOK_SECRET, 'msg_genuine', spaced), spaced)).status, 204);
    });

    let firstOrder: { id: string; code: string; state: string };
    let ada: Driver;

    it('dispatches a paid order: the nearest driver is assigned, the order shows the delivery and gets a fulfillment', async () => {
        ada = await onlyDriverAt('Ada Lovelace', near(SHOP));
        firstOrder = await placePaidOrder(env.shopClient, [catalog.cake.variantId], CUSTOMER);
        assert.equal(firstOrder.state, 'PaymentSettled');

        const order = await assignedOrder(firstOrder.id);
        assert.equal(order.driverDelivery.driverId, ada.id);
        assert.equal(order.driverDelivery.driverName, 'Ada Lovelace');
        assert.equal(order.driverDelivery.attempt, 1);
        const [fulfillment] = order.fulfillments;
        assert.deepEqual([fulfillment.state, fulfillment.method, fulfillment.trackingCode], ['Pending', 'Driver service', order.driverDelivery.deliveryId]);
        assert.ok(order.history.items.some((entry: any) => /Driver service: delivery \S+ ASSIGNED driver Ada Lovelace/.test(entry.data?.note ?? '')));

        const delivery = await service.delivery(order.driverDelivery.deliveryId);
        assert.equal(delivery.sellerOrderId, firstOrder.code);
        assert.deepEqual(delivery.pickup, SHOP);
        assert.deepEqual(delivery.dropoff, CUSTOMER);
        assert.equal(delivery.driverId, ada.id);
    });

    it('gives the customer the delivery through the Shop API: status, first name, ETA and link, nothing else', async () => {
        const { orderByCode } = await env.shopClient.query(SHOP_ORDER, { code: firstOrder.code });
        assert.equal(orderByCode.driverDelivery.status, 'ASSIGNED');
        assert.equal(orderByCode.driverDelivery.driverName, 'Ada');
        assert.equal(orderByCode.driverDeliveries.length, 1);
        // The ETA from the service's delivery.assigned, and a tracking link the plugin asked for: it opens this delivery.
        assert.ok(Number.isInteger(orderByCode.driverDelivery.etaSeconds) && orderByCode.driverDelivery.etaSeconds >= 0);
        const link = new RegExp(`^${service.url}/track/(trk_[A-Za-z0-9_-]{43})/page$`).exec(orderByCode.driverDelivery.trackingUrl);
        assert.ok(link, `a tracking link: ${orderByCode.driverDelivery.trackingUrl}`);
        const tracked = await fetch(`${service.url}/track/${link[1]}`);
        assert.equal(tracked.status, 200);
        assert.deepEqual(((await tracked.json()) as { status: string; driver: { name: string } }).driver.name, 'Ada');
        const { __type } = await env.shopClient.query(gql`{ __type(name: "DriverDelivery") { fields { name } } }`);
        assert.deepEqual(__type.fields.map((f: { name: string }) => f.name), ['status', 'driverName', 'etaSeconds', 'trackingUrl', 'updatedAt']);
    });

    it('moves the fulfillment and the order to Shipped at pickup, and to Delivered at the drop-off', async () => {
        const { deliveryId } = (await adminOrder(firstOrder.id)).driverDelivery;
        await service.move(ada, deliveryId, 'PICKED_UP');
        const shipped = await eventually('order Shipped', async () => {
            const order = await adminOrder(firstOrder.id);
            return order.state === 'Shipped' && order;
        });
        assert.equal(shipped.fulfillments[0].state, 'Shipped');
        assert.equal(shipped.driverDelivery.status, 'PICKED_UP');

        await service.move(ada, deliveryId, 'DELIVERED');
        const delivered = await eventually('order Delivered', async () => {
            const order = await adminOrder(firstOrder.id);
            return order.state === 'Delivered' && order;
        });
        assert.equal(delivered.fulfillments[0].state, 'Delivered');
        assert.equal(delivered.driverDelivery.status, 'DELIVERED');
    });

    it('answers 503 when a change cannot be applied, keeps nothing of it, and applies the service retry of the same message once', async () => {
        const katherine = await onlyDriverAt('Katherine Coleman', near(SHOP));
        const order = await placePaidOrder(env.shopClient, [catalog.cake.variantId], CUSTOMER);
        const { driverDelivery } = await assignedOrder(order.id);
        hiccups.pending = 1;
        await service.move(katherine, driverDelivery.deliveryId, 'PICKED_UP');

        const shipped = await eventually('order Shipped after the retry', async () => {
            const current = await adminOrder(order.id);
            return current.state === 'Shipped' && current;
        });
        assert.equal(hiccups.pending, 0);
        const pickupNotes = shipped.history.items.filter((entry: any) => / PICKED_UP /.test(entry.data?.note ?? ''));
        assert.equal(pickupNotes.length, 1);
        const { items } = await service.webhookMessages('delivered');
        const message = items.find(m => m.type === 'delivery.picked_up' && m.payload.data.sellerOrderId === order.code)!;
        assert.ok(message.attempts >= 2, `attempts ${message.attempts}`);
    });

    it('applies a replayed webhook once: the same webhook-id again changes nothing', async () => {
        const delivered = await eventually('webhooks delivered', async () => {
            const { items } = await service.webhookMessages('delivered');
            const mine = items.filter(m => m.payload.data.sellerOrderId === firstOrder.code);
            return mine.length >= 3 && mine;
        });
        const pickedUp = delivered.find(m => m.type === 'delivery.picked_up')!;
        const before = await adminOrder(firstOrder.id);

        // A late retry of the pickup message, as the service sends it: same id, same body, fresh timestamp.
        const body = JSON.stringify(pickedUp.payload);
        const replays = await Promise.all([1, 2].map(() => postWebhook(signedHeaders(WEBHOOK_SECRET, pickedUp.id, body), body)));
        assert.ok(replays.every(r => r.status === 204), `answers ${replays.map(r => r.status)}`);

        const afterwards = await adminOrder(firstOrder.id);
        assert.equal(afterwards.state, 'Delivered');
        assert.equal(afterwards.driverDelivery.status, 'DELIVERED');
        assert.equal(afterwards.fulfillments[0].state, 'Delivered');
        assert.equal(afterwards.history.items.length, before.history.items.length);
    });

    it('cancels the delivery and frees the driver when the order is cancelled', async () => {
        const grace = await onlyDriverAt('Grace Hopper', near(SHOP));
        const order = await placePaidOrder(env.shopClient, [catalog.cake.variantId], CUSTOMER);
        const assigned = await assignedOrder(order.id);
        assert.equal((await service.driver(grace.id)).status, 'BUSY');

        const { cancelOrder } = await env.adminClient.query(CANCEL_ORDER, { id: order.id });
        assert.equal(cancelOrder.state, 'Cancelled', JSON.stringify(cancelOrder));

        const cancelled = await eventually('delivery cancelled in the shop', async () => {
            const current = await adminOrder(order.id);
            return current.driverDelivery.status === 'CANCELLED' && current.fulfillments[0].state === 'Cancelled' && current;
        });
        assert.equal((await service.delivery(assigned.driverDelivery.deliveryId)).status, 'CANCELLED');
        assert.equal((await service.driver(grace.id)).status, 'AVAILABLE');
        assert.equal(cancelled.state, 'Cancelled');
    });

    it('with no driver free, the service keeps the order waiting and assigns it when a driver comes online', async () => {
        await everyoneOffline();
        dispatch.maxWaitSeconds = 600;
        const order = await placePaidOrder(env.shopClient, [catalog.cake.variantId], CUSTOMER);
        const waiting = await eventually('order waiting at the service', async () => {
            const current = await adminOrder(order.id);
            return current.driverDelivery?.status === 'PENDING' && current;
        });
        assert.equal(waiting.fulfillments.length, 0);

        const katherine = await onlyDriverAt('Katherine Johnson', near(SHOP));
        const assigned = await assignedOrder(order.id);
        assert.equal(assigned.driverDelivery.driverId, katherine.id);
        assert.equal(assigned.driverDelivery.deliveryId, waiting.driverDelivery.deliveryId);
    });

    it('with no driver free and no waiting at the service, the plugin sends the order again on its own schedule', async () => {
        await everyoneOffline();
        dispatch.maxWaitSeconds = 0;
        const order = await placePaidOrder(env.shopClient, [catalog.cake.variantId], CUSTOMER);
        const retrying = await eventually('order scheduled for a resend', async () => {
            const current = await adminOrder(order.id);
            return current.driverDelivery?.status === 'RETRYING' && current;
        });
        assert.equal(retrying.driverDelivery.deliveryId, null);
        assert.match(retrying.driverDelivery.lastError, /no driver available/);

        const dorothy = await onlyDriverAt('Dorothy Vaughan', near(SHOP));
        const assigned = await assignedOrder(order.id);
        assert.equal(assigned.driverDelivery.driverId, dorothy.id);
        assert.equal(assigned.driverDelivery.lastError, null);
    });

    it('reassigns a delivery from the Admin API: the next nearest driver gets it, the order keeps one fulfillment', async () => {
        dispatch.maxWaitSeconds = 600;
        const first = await onlyDriverAt('Mary Jackson', near(SHOP));
        const order = await placePaidOrder(env.shopClient, [catalog.cake.variantId], CUSTOMER);
        await assignedOrder(order.id);
        const second = await service.newDriver('Annie Easley');
        drivers.push(second);
        await service.available(second, near(SHOP, 500));

        const { reassignDelivery } = await env.adminClient.query(REASSIGN, { id: order.id });
        assert.ok(reassignDelivery.deliveryId);
        const again = await eventually('assigned again', async () => {
            const current = await adminOrder(order.id);
            return current.driverDelivery.attempt === 2 && current.driverDelivery.status === 'ASSIGNED' && current;
        });
        // The reassigned driver counts as having refused the order: the next nearest takes it.
        assert.equal(again.driverDelivery.driverId, second.id);
        assert.equal(again.driverDelivery.driverName, 'Annie Easley');
        assert.equal((await service.driver(first.id)).status, 'AVAILABLE');
        assert.equal(again.fulfillments.length, 1);
        assert.equal(again.fulfillments[0].state, 'Pending');
    });

    it('cancels an order whose ready send is still on its way: the delivery it then makes is cancelled, the driver freed', async () => {
        dispatch.maxWaitSeconds = 0;
        const hedy = await onlyDriverAt('Hedy Lamarr', near(SHOP));
        const held = front.hold('/events/seller-order-ready');
        const order = await placePaidOrder(env.shopClient, [catalog.cake.variantId], CUSTOMER);
        await held.reached;

        const { cancelOrder } = await env.adminClient.query(CANCEL_ORDER, { id: order.id });
        assert.equal(cancelOrder.state, 'Cancelled', JSON.stringify(cancelOrder));
        // The cancellation overtakes the held send: the service has nothing to cancel yet.
        await eventually('cancellation answered', async () => (await adminOrder(order.id)).driverDelivery?.status === 'CANCELLED');
        held.release();

        const late = await eventually('the late delivery cancelled at the service', async () => {
            const { body } = await service.call('GET', `/deliveries?sellerOrderId=${order.code}`, ADMIN_API_KEY);
            return body.items.length === 1 && body.items[0].status === 'CANCELLED' && body.items[0];
        });
        assert.equal(late.driverId, hedy.id);
        assert.equal((await service.driver(hedy.id)).status, 'AVAILABLE');
        const settled = await eventually('the shop saw the delivery end', async () => {
            const current = await adminOrder(order.id);
            return current.driverDelivery.deliveryId === late.id && current.driverDelivery.status === 'CANCELLED' && current;
        });
        assert.equal(settled.fulfillments.length, 0);
    });

    it('dispatches each seller order of a two-seller order from its own seller pickup', async () => {
        dispatch.maxWaitSeconds = 0;
        await everyoneOffline();
        await createSeller(env.adminClient, 'pizza-place', catalog.pizza.productId, PIZZA_PLACE);
        await createSeller(env.adminClient, 'flower-shop', catalog.flowers.productId, FLOWER_SHOP);
        const pizzaDriver = await service.newDriver('Pizza Driver');
        const flowerDriver = await service.newDriver('Flower Driver');
        drivers.push(pizzaDriver, flowerDriver);
        await service.available(pizzaDriver, near(PIZZA_PLACE));
        await service.available(flowerDriver, near(FLOWER_SHOP));

        const aggregate = await placePaidOrder(env.shopClient, [catalog.pizza.variantId, catalog.flowers.variantId], CUSTOMER);
        const split = await adminOrder(aggregate.id);
        assert.equal(split.type, 'Aggregate');
        assert.equal(split.sellerOrders.length, 2);

        const bySeller = new Map<string, any>();
        for (const sellerOrder of split.sellerOrders) {
            const assigned = await assignedOrder(sellerOrder.id);
            const seller = sellerOrder.channels.map((c: any) => c.code).find((c: string) => c !== '__default_channel__');
            bySeller.set(seller, { order: assigned, delivery: await service.delivery(assigned.driverDelivery.deliveryId) });
        }
        assert.deepEqual(bySeller.get('pizza-place').delivery.pickup, PIZZA_PLACE);
        assert.equal(bySeller.get('pizza-place').delivery.driverId, pizzaDriver.id);
        assert.deepEqual(bySeller.get('flower-shop').delivery.pickup, FLOWER_SHOP);
        assert.equal(bySeller.get('flower-shop').delivery.driverId, flowerDriver.id);

        const aggregateAfter = await adminOrder(aggregate.id);
        assert.equal(aggregateAfter.driverDelivery, null);
        assert.equal(aggregateAfter.driverDeliveries.length, 2);
        const { orderByCode } = await env.shopClient.query(SHOP_ORDER, { code: aggregate.code });
        assert.deepEqual(
            orderByCode.driverDeliveries.map((d: any) => d.status),
            ['ASSIGNED', 'ASSIGNED'],
        );
    });
});
