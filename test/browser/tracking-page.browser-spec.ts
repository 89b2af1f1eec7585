import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import request from 'supertest';
import { LocationWriter } from '../../src/availability/location-writer.js';
import { newDriver } from '../support/factories.js';
import { sendEvent } from '../support/fleet.js';
import { freePort } from '../support/free-port.js';
import { useServiceEnvironment } from '../support/service-environment.js';
import { admin, bearer, TestApp } from '../support/test-app.js';

// What the functions run inside the page use of the browser's globals (the project compiles without the DOM library).
declare const document: {
  getElementById(id: string): { textContent: string | null; dataset: Record<string, string | undefined> } | null;
  documentElement: { scrollWidth: number };
};
declare const window: { innerWidth: number };

const PICKUP = { lat: 52.52, lon: 13.405 };
const DROPOFF = { lat: 52.5, lon: 13.44 };
const START = { lat: 52.51, lon: 13.39 };
const ARTIFACTS = 'test-artifacts';
export const SCREENSHOT = `${ARTIFACTS}/tracking-page.png`;

/**
 * The customer's tracking page in a real headless Chromium (Debian's, through
 * playwright-core): it loads, shows the status and the driver, and follows
 * the event stream as the test moves the driver and the delivery. The tile
 * server is unreachable on purpose: the page must work without tiles.
 */
describe('the tracking page, in Chromium', () => {
  const tiles: Record<string, string> = { LOCATION_MAX_SPEED_KMH: '0' };
  beforeAll(async () => {
    // Nothing listens there: every tile fails at once, as with no network.
    tiles.TRACKING_TILE_URL = `http://127.0.0.1:${await freePort()}/{z}/{x}/{y}.png`;
  });
  const env = useServiceEnvironment('tracking-page', tiles);
  let t: TestApp;
  let base: string;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  const http = () => request(t.server);

  beforeAll(async () => {
    t = env.t;
    await t.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(t.server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      // As root, and on a machine without a network: no sandbox, no background connections.
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    // A phone's screen.
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
      deviceScaleFactor: 2,
    });
    page = await context.newPage();
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      // Tiles cannot load (on purpose); anything else the console reports is a problem, a CSP violation above all.
      if (message.type() === 'error' && !message.text().includes('ERR_CONNECTION_REFUSED')) problems.push(message.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
  });

  const ping = async (driverToken: string, driverId: string, point: { lat: number; lon: number }) => {
    await http().patch(`/drivers/${driverId}/location`).set(bearer(driverToken)).send(point).expect(200);
    await t.app.get(LocationWriter).flush();
  };
  const driverMarker = () => page.locator('path.marker-driver');
  const mapPoint = async () => ({
    lat: Number(await page.locator('#map').getAttribute('data-driver-lat')),
    lon: Number(await page.locator('#map').getAttribute('data-driver-lon')),
  });

  it('loads, shows the status, the ETA and the driver, and follows the driver and the delivery live', async () => {
    const driver = await newDriver(t, { name: 'Ada Lovelace', vehicleType: 'bicycle' });
    await ping(driver.token, driver.id, START);
    await http().patch(`/drivers/${driver.id}/status`).set(bearer(driver.token)).send({ status: 'AVAILABLE' }).expect(200);
    const ready = await sendEvent(t, 'seller-order-ready', {
      sellerOrderId: 'PAGE-1',
      pickupLat: PICKUP.lat,
      pickupLon: PICKUP.lon,
      dropoffLat: DROPOFF.lat,
      dropoffLon: DROPOFF.lon,
    }).expect(200);
    const deliveryId = ready.body.deliveryId as string;
    const { body: link } = await http().post(`/deliveries/${deliveryId}/tracking-links`).set(admin).send({}).expect(201);

    const response = await page.goto(`${base}/track/${link.token}/page`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'A driver is on the way to the pickup');
    expect(await page.locator('#driver').textContent()).toBe('Ada (bicycle)');
    expect(await page.locator('#eta').textContent()).toMatch(/^about \d+ min$/);
    await driverMarker().waitFor();
    expect(await mapPoint()).toEqual(START);

    // Usable and labelled: the page's language, a live status region, a labelled map, nothing wider than the phone.
    expect(await page.locator('html').getAttribute('lang')).toBe('en');
    expect(await page.locator('#status').getAttribute('role')).toBe('status');
    expect(await page.locator('#map').getAttribute('aria-label')).toMatch(/driver/);
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);

    // The driver moves: the marker follows, from the stream.
    const before = await driverMarker().getAttribute('d');
    const moved = { lat: 52.515, lon: 13.4 };
    await ping(driver.token, driver.id, moved);
    await page.waitForFunction((lat) => document.getElementById('map')?.dataset.driverLat === String(lat), moved.lat);
    expect(await mapPoint()).toEqual(moved);
    expect(await driverMarker().getAttribute('d')).not.toBe(before);

    // Picked up: the status text changes.
    await http().patch(`/deliveries/${deliveryId}/status`).set(bearer(driver.token)).send({ status: 'PICKED_UP' }).expect(200);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'Your order is on its way');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000);

    // Delivered: the last status, the driver's marker gone, the stream closed by the page.
    await http().patch(`/deliveries/${deliveryId}/status`).set(bearer(driver.token)).send({ status: 'DELIVERED' }).expect(200);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'Delivered');
    await driverMarker().waitFor({ state: 'detached' });
    expect(problems).toEqual([]);
  });
});
