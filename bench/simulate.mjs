// @ts-check
/**
 * `npm run simulate -- --url http://127.0.0.1:3001 --drivers 2000 --orders-per-second 20 --duration 120`
 *
 * Drives an already-running service like a city: drivers created through
 * the admin API move and ping their location with their own tokens, go on
 * and off duty; signed seller-order-ready events arrive at a steady rate;
 * assigned drivers pick up and deliver; a few orders are cancelled. Prints
 * live throughput, latency and answers by status, then a summary, and
 * checks that no driver and no order ever had two live deliveries (from
 * the answers as they come, and from GET /deliveries at the end).
 *
 * `--mode offer` dispatches with offers: the driver named in the answer is
 * told at once (a push), others find their offers by polling
 * GET /drivers/:id/deliveries with their pings; a driver accepts with
 * probability `--accept-share` after 1 to `--accept-delay` seconds, declines
 * otherwise, and `--silent-share` of the drivers never answer (their offers
 * time out). `--max-wait` lets orders wait for a driver. The summary then
 * reports, from the audit trails, the orders assigned and expired, the time
 * from ready to assigned and the offers per order.
 * Needs ADMIN_API_KEY and VENDURE_WEBHOOK_SECRET (the service's) in the
 * environment. Exits 1 on any 5xx or double assignment.
 *
 * Importable: `simulate(options)` resolves to the summary (for soak tests).
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { BERLIN, between } from './lib/city.mjs';
import { webhookSigner } from './lib/credentials.mjs';
import { createClient, mapLimit } from './lib/http-client.mjs';
import { findDoubleAssignments, findDoubleHolds } from './lib/overlaps.mjs';
import { RequestRecorder, statusText } from './lib/recorder.mjs';
import { writeDocSection } from './lib/report.mjs';
import { readOptions } from './lib/settings.mjs';

/**
 * @typedef {object} SimulateOptions
 * @property {string} url
 * @property {number} drivers
 * @property {number} ordersPerSecond
 * @property {number} durationSeconds
 * @property {string} adminKey
 * @property {string} vendureSecret
 * @property {number} [pingSeconds] each on-duty driver pings this often
 * @property {number} [reportSeconds] a live line this often
 * @property {number} [cancelShare] share of orders Vendure cancels, 0..1
 * @property {number} [offDutyPerHour] how often an idle driver goes off duty, per hour
 * @property {number} [offDutyMinutes] mean time off duty
 * @property {[number, number]} [stageSeconds] each leg (to pickup, to drop-off) lasts between these
 * @property {'auto' | 'offer'} [mode] the orders' dispatchMode
 * @property {number} [maxWaitSeconds] the orders' maxWaitSeconds
 * @property {number} [acceptShare] share of offers a driver that answers accepts, 0..1
 * @property {number} [acceptDelaySeconds] a driver answers an offer after 1 to this many seconds
 * @property {number} [silentShare] share of drivers that never answer offers, 0..1
 * @property {(line: string) => void} [log]
 */

/** @type {Required<Omit<SimulateOptions, 'adminKey' | 'vendureSecret'>>} */
export const DEFAULTS = {
  url: 'http://127.0.0.1:3001',
  drivers: 2_000,
  ordersPerSecond: 20,
  durationSeconds: 120,
  pingSeconds: 5,
  reportSeconds: 5,
  cancelShare: 0.05,
  offDutyPerHour: 6,
  offDutyMinutes: 1,
  stageSeconds: [5, 20],
  mode: 'auto',
  maxWaitSeconds: 0,
  acceptShare: 0.85,
  acceptDelaySeconds: 4,
  silentShare: 0.05,
  log: (line) => console.log(line),
};

/** Small enough that requests due in one tick are few: no artificial bursts. */
const TICK_MS = 20;
const city = BERLIN;

/**
 * @typedef {{ id: string, sellerOrderId: string, stage: 'to-pickup' | 'to-dropoff', from: import('./lib/city.mjs').Point,
 *   to: import('./lib/city.mjs').Point, dropoff: import('./lib/city.mjs').Point, stageStart: number, stageEnd: number, ending: number }} Trip
 * @typedef {{ id: string, token: string, position: import('./lib/city.mjs').Point, onDuty: boolean, changingDuty: boolean,
 *   pinging: boolean, nextPingAt: number, trip: Trip | null, queued: Trip | null, silent: boolean, seen: Set<string> }} Driver
 * @typedef {{ id: string, sellerOrderId: string, pickup: import('./lib/city.mjs').Point, dropoff: import('./lib/city.mjs').Point }} DeliveryRef
 */

class Simulation {
  /** @param {Required<SimulateOptions>} options */
  constructor(options) {
    this.o = options;
    this.client = createClient(options.url, { maxSockets: 64 });
    this.signer = webhookSigner(options.vendureSecret);
    /** Requests while drivers are created and go on duty; `recorder` is replaced when the run starts. */
    this.setupRecorder = new RequestRecorder();
    this.recorder = this.setupRecorder;
    this.runId = `sim-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
    /** @type {Driver[]} */
    this.drivers = [];
    /** @type {Map<string, Driver>} */
    this.byId = new Map();
    /** @type {Set<Promise<unknown>>} */
    this.inFlight = new Set();
    /** @type {Set<NodeJS.Timeout>} */
    this.timers = new Set();
    this.running = false;
    this.orderDebt = 0;
    this.counts = {
      orders: 0,
      assigned: 0,
      noDriver: 0,
      orderFailures: 0,
      pickedUp: 0,
      delivered: 0,
      cancelled: 0,
      offDuty: 0,
      onDuty: 0,
      waiting: 0,
      offered: 0,
      accepted: 0,
      declined: 0,
      acceptedLate: 0,
      ignored: 0,
    };
    /** Anomalies seen in the answers as they came. */
    this.anomalies = { doubleAssignedDriver: 0, assignedWhileOffDuty: 0, foreignDriver: 0 };
    this.serverErrorSamples = /** @type {string[]} */ ([]);
    this.cpuAtStart = process.cpuUsage();
    this.cpuPercent = 0;
  }

  /**
   * Sends a request, records it, and keeps it in flight until answered.
   * @param {string} kind
   * @param {string} method
   * @param {string} path
   * @param {import('./lib/http-client.mjs').RequestOptions} [options]
   */
  send(kind, method, path, options) {
    const pending = this.client.request(method, path, options).then((answer) => {
      this.recorder.record(kind, answer);
      if (answer.status >= 500 && this.serverErrorSamples.length < 5) {
        this.serverErrorSamples.push(`${method} ${path} → ${answer.status} ${JSON.stringify(answer.body)}`);
      }
      return answer;
    });
    this.inFlight.add(pending);
    void pending.finally(() => this.inFlight.delete(pending));
    return pending;
  }

  /** Vendure's signed POST. @param {string} kind @param {string} path @param {object} payload */
  sendSigned(kind, path, payload) {
    const body = JSON.stringify(payload);
    return this.send(kind, 'POST', path, { body, headers: this.signer.headers(body) });
  }

  /** @param {number} ms @param {() => void} action runs only while the simulation runs */
  later(ms, action) {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.running) action();
    }, ms);
    this.timers.add(timer);
  }

  async setUp() {
    const digits = String(Date.now() % 10_000).padStart(4, '0');
    this.o.log(`creating ${this.o.drivers} drivers at ${this.o.url}`);
    const created = await mapLimit(
      Array.from({ length: this.o.drivers }, (_, i) => i),
      16,
      (i) =>
        this.send('create-driver', 'POST', '/drivers', {
          token: this.o.adminKey,
          body: { name: `Sim driver ${i}`, phone: `+491${digits}${String(i).padStart(6, '0')}`, vehicleType: 'bicycle' },
        }),
    );
    const failed = created.filter((answer) => answer.status !== 201);
    if (failed.length)
      throw new Error(`${failed.length} drivers could not be created (first: ${failed[0].status} ${JSON.stringify(failed[0].body)})`);
    for (const { body } of created) {
      /** @type {Driver} */
      const driver = {
        id: body.id,
        token: body.token,
        position: city.randomPoint(),
        onDuty: false,
        changingDuty: false,
        pinging: false,
        nextPingAt: 0,
        trip: null,
        queued: null,
        silent: Math.random() < this.o.silentShare,
        seen: new Set(),
      };
      this.drivers.push(driver);
      this.byId.set(driver.id, driver);
    }
    await mapLimit(this.drivers, 32, (driver) => this.goOnDuty(driver));
  }

  async run() {
    this.running = true;
    this.recorder = new RequestRecorder();
    this.counts.onDuty = 0;
    this.cpuAtStart = process.cpuUsage();
    const started = performance.now();
    // Each driver keeps its own phase, so pings arrive evenly spread rather than in bursts.
    for (const driver of this.drivers) driver.nextPingAt = started + Math.random() * this.o.pingSeconds * 1000;
    let last = started;
    let nextReport = started + this.o.reportSeconds * 1000;
    while (performance.now() - started < this.o.durationSeconds * 1000) {
      await new Promise((resolve) => setTimeout(resolve, TICK_MS));
      const now = performance.now();
      this.tick(now, (now - last) / 1000);
      last = now;
      if (now >= nextReport) {
        nextReport += this.o.reportSeconds * 1000;
        this.o.log(`${this.recorder.intervalLine()} | ${this.progressText()}`);
      }
    }
    this.running = false;
    for (const timer of this.timers) clearTimeout(timer);
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    const cpu = process.cpuUsage(this.cpuAtStart);
    /** The simulator's own CPU use during the run, in % of one core. */
    this.cpuPercent = Math.round(((cpu.user + cpu.system) / 1000 / (performance.now() - started)) * 100);
  }

  progressText() {
    const c = this.counts;
    const onDuty = this.drivers.filter((d) => d.onDuty).length;
    const busy = this.drivers.filter((d) => d.trip).length;
    return `orders ${c.orders}, assigned ${c.assigned}, no driver ${c.noDriver}, delivered ${c.delivered}, cancelled ${c.cancelled}, on duty ${onDuty}, busy ${busy}`;
  }

  /** @param {number} now @param {number} dt seconds since the last tick */
  tick(now, dt) {
    for (this.orderDebt += this.o.ordersPerSecond * dt; this.orderDebt >= 1; this.orderDebt -= 1) void this.placeOrder();
    const offChance = (this.o.offDutyPerHour / 3600) * dt;
    const onChance = dt / (this.o.offDutyMinutes * 60);
    for (const driver of this.drivers) {
      if (driver.trip && driver.trip.ending === 0 && now >= driver.trip.stageEnd) void this.advance(driver, driver.trip);
      if (driver.changingDuty) continue;
      if (driver.onDuty && !driver.pinging && now >= driver.nextPingAt) void this.ping(driver, now);
      const idle = !driver.trip && !driver.queued;
      if (driver.onDuty && idle && Math.random() < offChance) void this.goOffDuty(driver);
      else if (!driver.onDuty && Math.random() < onChance) void this.goOnDuty(driver);
    }
  }

  /** @param {Driver} driver @param {number} now */
  positionOf(driver, now) {
    const trip = driver.trip;
    if (!trip) return (driver.position = city.near(driver.position, 30));
    return (driver.position = between(trip.from, trip.to, (now - trip.stageStart) / (trip.stageEnd - trip.stageStart)));
  }

  /** @param {Driver} driver @param {number} now */
  async ping(driver, now) {
    driver.pinging = true;
    const period = this.o.pingSeconds * 1000;
    driver.nextPingAt = driver.nextPingAt + period > now ? driver.nextPingAt + period : now + Math.random() * period;
    const { lat, lon } = this.positionOf(driver, now);
    await this.send('ping', 'PATCH', `/drivers/${driver.id}/location`, { token: driver.token, body: { lat, lon } });
    if (!driver.trip && this.dispatching()) await this.poll(driver);
    driver.pinging = false;
  }

  /** Whether orders may reach a driver other than through the answer to seller-order-ready. */
  dispatching() {
    return this.o.mode === 'offer' || this.o.maxWaitSeconds > 0;
  }

  /** An idle driver's app looks for offers, and for orders given to it while they waited. @param {Driver} driver */
  async poll(driver) {
    const status = this.o.mode === 'offer' ? 'OFFERED' : 'ASSIGNED';
    const answer = await this.send('own-deliveries', 'GET', `/drivers/${driver.id}/deliveries?status=${status}`, { token: driver.token });
    if (answer.status !== 200) return;
    for (const d of answer.body.items) {
      const ref = { id: d.id, sellerOrderId: d.sellerOrderId, pickup: d.pickup, dropoff: d.dropoff ?? city.near(d.pickup, 3_000) };
      if (status === 'OFFERED') this.offer(driver, ref);
      else if (driver.trip?.id !== d.id && driver.queued?.id !== d.id && !driver.seen.has(d.id)) {
        driver.seen.add(d.id);
        this.counts.assigned += 1;
        this.startTrip(driver.id, ref);
      }
    }
  }

  /**
   * A driver learns of an offer (from the answer, or its poll) and answers it after a while, or never.
   * @param {Driver | undefined} driver
   * @param {DeliveryRef} delivery
   */
  offer(driver, delivery) {
    if (!driver) {
      this.anomalies.foreignDriver += 1;
      return;
    }
    if (driver.seen.has(delivery.id)) return;
    driver.seen.add(delivery.id);
    this.counts.offered += 1;
    if (driver.silent) {
      this.counts.ignored += 1;
      return;
    }
    this.later(randomBetween(1, Math.max(1, this.o.acceptDelaySeconds)) * 1000, () => void this.answerOffer(driver, delivery));
  }

  /** @param {Driver} driver @param {DeliveryRef} delivery */
  async answerOffer(driver, delivery) {
    if (Math.random() >= this.o.acceptShare) {
      const answer = await this.send('decline', 'POST', `/deliveries/${delivery.id}/decline`, {
        token: driver.token,
        body: { reason: 'too far' },
      });
      if (answer.status === 200) this.counts.declined += 1;
      return;
    }
    const answer = await this.send('accept', 'POST', `/deliveries/${delivery.id}/accept`, { token: driver.token });
    if (answer.status === 200) {
      this.counts.accepted += 1;
      this.counts.assigned += 1;
      this.startTrip(driver.id, delivery);
    } else if (answer.status === 409) this.counts.acceptedLate += 1;
  }

  /** @param {Driver} driver */
  async goOnDuty(driver) {
    driver.changingDuty = true;
    const now = performance.now();
    const { lat, lon } = this.positionOf(driver, now);
    driver.nextPingAt = now + this.o.pingSeconds * 1000;
    await this.send('ping', 'PATCH', `/drivers/${driver.id}/location`, { token: driver.token, body: { lat, lon } });
    const answer = await this.send('status', 'PATCH', `/drivers/${driver.id}/status`, {
      token: driver.token,
      body: { status: 'AVAILABLE' },
    });
    if (answer.status === 200) {
      driver.onDuty = true;
      this.counts.onDuty += 1;
    }
    driver.changingDuty = false;
  }

  /** @param {Driver} driver */
  async goOffDuty(driver) {
    driver.changingDuty = true;
    const answer = await this.send('status', 'PATCH', `/drivers/${driver.id}/status`, { token: driver.token, body: { status: 'OFFLINE' } });
    // 409 DRIVER_HAS_ACTIVE_DELIVERY: an order took the driver meanwhile; it stays on duty.
    if (answer.status === 200) {
      if (driver.trip) this.anomalies.assignedWhileOffDuty += 1;
      driver.onDuty = false;
      this.counts.offDuty += 1;
    }
    driver.changingDuty = false;
  }

  async placeOrder() {
    const n = this.counts.orders++;
    const pickup = city.randomPoint();
    const dropoff = city.near(pickup, 3_000);
    const sellerOrderId = `${this.runId}-${n}`;
    const answer = await this.sendSigned('order', '/events/seller-order-ready', {
      sellerOrderId,
      pickupLat: pickup.lat,
      pickupLon: pickup.lon,
      dropoffLat: dropoff.lat,
      dropoffLon: dropoff.lon,
      ...(this.o.mode === 'offer' ? { dispatchMode: 'offer' } : {}),
      ...(this.o.maxWaitSeconds > 0 ? { maxWaitSeconds: this.o.maxWaitSeconds } : {}),
    });
    if (answer.status !== 200) {
      this.counts.orderFailures += 1;
      return;
    }
    if (answer.body.deliveryId && Math.random() < this.o.cancelShare) {
      this.later(randomBetween(2, 20) * 1000, () => void this.cancel(sellerOrderId, answer.body.driverId ?? ''));
    }
    if (answer.body.status === 'OFFERED') {
      // A push to the offered driver's phone.
      this.offer(this.byId.get(answer.body.driverId), { id: answer.body.deliveryId, sellerOrderId, pickup, dropoff });
      return;
    }
    if (answer.body.status === 'PENDING') {
      this.counts.waiting += 1;
      return;
    }
    if (!answer.body.assigned) {
      this.counts.noDriver += 1;
      return;
    }
    this.counts.assigned += 1;
    this.startTrip(answer.body.driverId, { id: answer.body.deliveryId, sellerOrderId, pickup, dropoff });
  }

  /**
   * @param {string} driverId
   * @param {{ id: string, sellerOrderId: string, pickup: import('./lib/city.mjs').Point, dropoff: import('./lib/city.mjs').Point }} delivery
   */
  startTrip(driverId, delivery) {
    const driver = this.byId.get(driverId);
    if (!driver) {
      this.anomalies.foreignDriver += 1;
      return;
    }
    if (!driver.onDuty && !driver.changingDuty) this.anomalies.assignedWhileOffDuty += 1;
    driver.onDuty = true;
    const now = performance.now();
    /** @type {Trip} */
    const trip = {
      id: delivery.id,
      sellerOrderId: delivery.sellerOrderId,
      stage: 'to-pickup',
      from: driver.position,
      to: delivery.pickup,
      dropoff: delivery.dropoff,
      stageStart: now,
      stageEnd: now + this.legMs(),
      ending: 0,
    };
    if (!driver.trip) driver.trip = trip;
    else {
      // Its previous delivery may be ending right now (answer not back yet): that is fine; otherwise it is a double assignment.
      if (driver.trip.ending === 0 || driver.queued) {
        this.anomalies.doubleAssignedDriver += 1;
        this.o.log(`DOUBLE ASSIGNMENT seen: driver ${driver.id} got ${trip.id} while on ${driver.trip.id}`);
      }
      driver.queued = trip;
    }
  }

  legMs() {
    return randomBetween(...this.o.stageSeconds) * 1000;
  }

  /** The driver reports the next step of its trip. @param {Driver} driver @param {Trip} trip */
  async advance(driver, trip) {
    const status = trip.stage === 'to-pickup' ? 'PICKED_UP' : 'DELIVERED';
    trip.ending += status === 'DELIVERED' ? 1 : 0;
    trip.stageEnd = Infinity;
    const answer = await this.send('delivery-status', 'PATCH', `/deliveries/${trip.id}/status`, { token: driver.token, body: { status } });
    if (status === 'DELIVERED') trip.ending -= 1;
    const now = performance.now();
    if (answer.status === 200 && status === 'PICKED_UP') {
      this.counts.pickedUp += 1;
      Object.assign(trip, { stage: 'to-dropoff', from: trip.to, to: trip.dropoff, stageStart: now, stageEnd: now + this.legMs() });
    } else if (answer.status === 200) {
      this.counts.delivered += 1;
      this.endTrip(driver, trip.id);
    } else if (answer.status === 409) {
      // INVALID_DELIVERY_TRANSITION: Vendure cancelled it meanwhile.
      this.endTrip(driver, trip.id);
    } else {
      trip.stageEnd = now + 2_000;
    }
  }

  /** @param {string} sellerOrderId @param {string} driverId */
  async cancel(sellerOrderId, driverId) {
    const driver = this.byId.get(driverId);
    const trip =
      driver?.trip?.sellerOrderId === sellerOrderId ? driver.trip : driver?.queued?.sellerOrderId === sellerOrderId ? driver.queued : null;
    if (trip) trip.ending += 1;
    const answer = await this.sendSigned('cancel', '/events/seller-order-cancelled', { sellerOrderId, reason: 'customer cancelled' });
    if (trip) trip.ending -= 1;
    if (answer.status === 200 && answer.body.cancelled) {
      this.counts.cancelled += 1;
      if (driver && trip) this.endTrip(driver, trip.id);
    }
  }

  /** @param {Driver} driver @param {string} tripId */
  endTrip(driver, tripId) {
    if (driver.queued?.id === tripId) driver.queued = null;
    if (driver.trip?.id !== tripId) return;
    driver.trip = driver.queued;
    driver.queued = null;
    if (driver.trip) {
      const now = performance.now();
      Object.assign(driver.trip, { from: driver.position, stageStart: now, stageEnd: now + this.legMs() });
    }
  }

  /** Every delivery of this run, from GET /deliveries (admin). */
  async fetchDeliveries() {
    /** @type {import('./lib/overlaps.mjs').DeliveryLike[]} */
    const deliveries = [];
    let cursor = '';
    do {
      const { status, body } = await this.client.request(
        'GET',
        `/deliveries?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        {
          token: this.o.adminKey,
        },
      );
      if (status !== 200) throw new Error(`GET /deliveries answered ${status}: ${JSON.stringify(body)}`);
      deliveries.push(...body.items.filter((/** @type {{ sellerOrderId: string }} */ d) => d.sellerOrderId.startsWith(`${this.runId}-`)));
      cursor = body.nextCursor ?? '';
    } while (cursor);
    return deliveries;
  }

  /** The audit trail of each delivery. @param {Array<{ id: string }>} deliveries */
  async fetchTrails(deliveries) {
    return mapLimit(deliveries, 16, async (d) => {
      const { status, body } = await this.client.request('GET', `/deliveries/${d.id}/events`, { token: this.o.adminKey });
      if (status !== 200) throw new Error(`GET /deliveries/${d.id}/events answered ${status}`);
      return { deliveryId: d.id, events: /** @type {Array<{ type: string, at: string, data: Record<string, unknown> }>} */ (body) };
    });
  }

  async summary() {
    const deliveries = await this.fetchDeliveries();
    const doubles = findDoubleAssignments(deliveries);
    const trails = await this.fetchTrails(deliveries);
    const created = new Map(deliveries.map((d) => [d.id, Date.parse(/** @type {any} */ (d).createdAt)]));
    const assignedAfterMs = trails.flatMap(({ deliveryId, events }) => {
      const assigned = events.find((e) => e.type === 'delivery.assigned');
      return assigned ? [Date.parse(assigned.at) - /** @type {number} */ (created.get(deliveryId))] : [];
    });
    const offers = trails.reduce((n, t) => n + t.events.filter((e) => e.type === 'delivery.offered').length, 0);
    const dispatch = {
      ordersAssigned: assignedAfterMs.length,
      ordersExpired: deliveries.filter((d) => /** @type {any} */ (d).status === 'EXPIRED').length,
      readyToAssignedP50Ms: Math.round(percentileOf(assignedAfterMs, 50)),
      readyToAssignedP95Ms: Math.round(percentileOf(assignedAfterMs, 95)),
      offersPerOrder: deliveries.length ? Math.round((offers / deliveries.length) * 100) / 100 : 0,
      doubleHolds: findDoubleHolds(trails).length,
    };
    const requests = this.recorder.summary();
    const setupServerErrors = this.setupRecorder.serverErrors;
    return {
      runId: this.runId,
      settings: {
        url: this.o.url,
        drivers: this.o.drivers,
        ordersPerSecond: this.o.ordersPerSecond,
        durationSeconds: this.o.durationSeconds,
        pingSeconds: this.o.pingSeconds,
        mode: this.o.mode,
        maxWaitSeconds: this.o.maxWaitSeconds,
        acceptShare: this.o.acceptShare,
        acceptDelaySeconds: this.o.acceptDelaySeconds,
        silentShare: this.o.silentShare,
      },
      dispatch,
      ...requests,
      serverErrors: requests.serverErrors + setupServerErrors,
      setupServerErrors,
      connectionErrors: requests.byStatus[0] ?? 0,
      ...this.counts,
      liveAtEnd: deliveries.filter((d) => !d.deliveredAt && !d.failedAt && !d.cancelledAt).length,
      deliveriesChecked: deliveries.length,
      doubleAssignments: {
        seenInAnswers: this.anomalies.doubleAssignedDriver,
        drivers: doubles.drivers.length,
        orders: doubles.orders.length,
        heldTwice: dispatch.doubleHolds,
      },
      simulatorCpuPercent: this.cpuPercent,
      anomalies: { assignedWhileOffDuty: this.anomalies.assignedWhileOffDuty, foreignDriver: this.anomalies.foreignDriver },
      serverErrorSamples: this.serverErrorSamples,
    };
  }
}

/** @param {number} low @param {number} high */
const randomBetween = (low, high) => low + Math.random() * (high - low);

/** @param {number[]} values @param {number} p */
function percentileOf(values, p) {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * Runs a simulation against a running service and resolves to its summary.
 * @param {Partial<SimulateOptions> & Pick<SimulateOptions, 'adminKey' | 'vendureSecret'>} options
 */
export async function simulate(options) {
  const simulation = new Simulation({ ...DEFAULTS, ...options });
  try {
    await simulation.setUp();
    simulation.o.log(
      `running ${simulation.o.durationSeconds} s: ${simulation.o.ordersPerSecond} orders/s, pings every ${simulation.o.pingSeconds} s`,
    );
    await simulation.run();
    return await simulation.summary();
  } finally {
    simulation.client.close();
  }
}

/** @typedef {Awaited<ReturnType<typeof simulate>>} SimulationSummary */

/** True when the run saw a 5xx or a double assignment. @param {SimulationSummary} s */
export const failed = (s) =>
  s.serverErrors > 0 ||
  s.doubleAssignments.seenInAnswers + s.doubleAssignments.drivers + s.doubleAssignments.orders + s.doubleAssignments.heldTwice > 0;

/** The summary as Markdown. @param {SimulationSummary} s */
export function formatSummary(s) {
  const kinds = Object.entries(s.byKind).map(
    ([kind, k]) => `| ${kind} | ${k.requests} | ${k.p50Ms} | ${k.p99Ms} | ${statusText(k.byStatus)} |`,
  );
  return [
    `- ${s.settings.drivers} drivers pinging every ${s.settings.pingSeconds} s, ${s.settings.ordersPerSecond} orders/s for ${s.settings.durationSeconds} s against ${s.settings.url}`,
    `- Requests: ${s.requests} (${s.requestsPerSecond}/s), p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms; by status: ${statusText(s.byStatus)}; the simulator used ${s.simulatorCpuPercent} % of a core`,
    `- 5xx: ${s.serverErrors}; no answer: ${s.connectionErrors}`,
    `- Dispatch: ${s.settings.mode} mode, orders wait up to ${s.settings.maxWaitSeconds} s` +
      (s.settings.mode === 'offer'
        ? `; drivers accept ${Math.round(s.settings.acceptShare * 100)} % of offers after 1–${s.settings.acceptDelaySeconds} s, ${Math.round(s.settings.silentShare * 100)} % never answer`
        : ''),
    `- Orders: ${s.orders}; assigned ${s.dispatch.ordersAssigned}; expired ${s.dispatch.ordersExpired}; no driver available (nothing kept) ${s.noDriver}; failed ${s.orderFailures}`,
    `- Ready to assigned: median ${s.dispatch.readyToAssignedP50Ms} ms, p95 ${s.dispatch.readyToAssignedP95Ms} ms; offers per order ${s.dispatch.offersPerOrder}` +
      (s.settings.mode === 'offer'
        ? ` (${s.offered} seen by drivers: ${s.accepted} accepted, ${s.declined} declined, ${s.ignored} ignored, ${s.acceptedLate} accepted too late)`
        : ''),
    `- Deliveries: picked up ${s.pickedUp}, delivered ${s.delivered}, cancelled ${s.cancelled}, still live at the end ${s.liveAtEnd}`,
    `- Drivers went off duty ${s.offDuty} times and came back ${s.onDuty} times`,
    `- Double assignments: ${s.doubleAssignments.seenInAnswers} seen in answers; ${s.doubleAssignments.drivers} drivers and ${s.doubleAssignments.orders} orders with overlapping live deliveries in GET /deliveries (${s.deliveriesChecked} checked); ${s.doubleAssignments.heldTwice} deliveries or offers held at once by one driver in the audit trails`,
    ...(s.anomalies.assignedWhileOffDuty || s.anomalies.foreignDriver
      ? [
          `- Other anomalies: ${s.anomalies.assignedWhileOffDuty} assignments to drivers off duty, ${s.anomalies.foreignDriver} to drivers of other runs`,
        ]
      : []),
    ...s.serverErrorSamples.map((sample) => `- 5xx sample: ${sample}`),
    '',
    '| request | count | p50 ms | p99 ms | by status |',
    '|---|---|---|---|---|',
    ...kinds,
  ].join('\n');
}

async function main() {
  const o = readOptions({
    url: { flag: 'url', env: 'SIMULATE_URL', type: 'string', fallback: DEFAULTS.url },
    drivers: { flag: 'drivers', env: 'SIMULATE_DRIVERS', type: 'number', fallback: DEFAULTS.drivers },
    ordersPerSecond: { flag: 'orders-per-second', env: 'SIMULATE_ORDERS_PER_SECOND', type: 'number', fallback: DEFAULTS.ordersPerSecond },
    durationSeconds: { flag: 'duration', env: 'SIMULATE_DURATION', type: 'number', fallback: DEFAULTS.durationSeconds },
    pingSeconds: { flag: 'ping-seconds', env: 'SIMULATE_PING_SECONDS', type: 'number', fallback: DEFAULTS.pingSeconds },
    // Typed as any string: the flag and the variable may hold anything, checked below.
    mode: { flag: 'mode', env: 'SIMULATE_MODE', type: 'string', fallback: /** @type {string} */ (DEFAULTS.mode) },
    maxWaitSeconds: { flag: 'max-wait', env: 'SIMULATE_MAX_WAIT', type: 'number', fallback: DEFAULTS.maxWaitSeconds },
    acceptShare: { flag: 'accept-share', env: 'SIMULATE_ACCEPT_SHARE', type: 'number', fallback: DEFAULTS.acceptShare },
    acceptDelaySeconds: { flag: 'accept-delay', env: 'SIMULATE_ACCEPT_DELAY', type: 'number', fallback: DEFAULTS.acceptDelaySeconds },
    silentShare: { flag: 'silent-share', env: 'SIMULATE_SILENT_SHARE', type: 'number', fallback: DEFAULTS.silentShare },
    doc: { flag: 'write-doc', type: 'boolean', fallback: false },
  });
  const adminKey = process.env.ADMIN_API_KEY ?? '';
  const vendureSecret = process.env.VENDURE_WEBHOOK_SECRET ?? '';
  if (!adminKey || !vendureSecret) throw new Error("set ADMIN_API_KEY and VENDURE_WEBHOOK_SECRET to the running service's values");
  if (o.mode !== 'auto' && o.mode !== 'offer') throw new Error(`--mode must be auto or offer, not ${o.mode}`);
  const summary = await simulate({ ...o, mode: /** @type {'auto' | 'offer'} */ (o.mode), adminKey, vendureSecret });
  const text = formatSummary(summary);
  console.log(`\n${text}`);
  if (o.doc) writeDocSection('bench:simulate', `Last \`npm run simulate\` (${new Date().toISOString().slice(0, 16)}Z):\n\n${text}`);
  if (failed(summary)) process.exitCode = 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
