import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { signedHeaders } from '../../support/signing.js';

/** What a request of the stream was for. */
export type RequestKind = 'location' | 'ready' | 'ready-repeat' | 'cancel' | 'picked_up' | 'delivered' | 'failed';

/** One HTTP attempt and how it ended: a status, or no answer at all. */
export interface RequestRecord {
  kind: RequestKind;
  /** The HTTP status, 'network' (refused, reset) or 'timeout' (no answer in time). */
  status: number | 'network' | 'timeout';
  /** The error body's `code`, when there is one. */
  code?: string;
  /** For seller-order-ready answered 200: whether a driver was assigned. */
  outcome?: 'assigned' | 'no-driver';
  /** Index of the target (service process) it went to. */
  target: number;
  startedAt: number;
  endedAt: number;
  sellerOrderId?: string;
  deliveryId?: string;
}

/** A 200 `assigned: true` answer to seller-order-ready. */
export interface AssignedAnswer {
  sellerOrderId: string;
  deliveryId: string;
  driverId: string;
  distanceMeters: number;
  answeredAt: number;
}

export interface StreamDriver {
  id: string;
  token: string;
  lat: number;
  lon: number;
}

/** What becomes of an assigned delivery (weights, need not sum to 1). */
export interface Fates {
  deliver: number;
  cancel: number;
  pickUpThenCancel: number;
  fail: number;
}

export interface LoadStreamOptions {
  /** Base URLs of the service processes; requests go round-robin, a retry to the next one. */
  targets: string[];
  /** Drivers with their tokens: each reports its location (its heartbeat) and moves its own deliveries. */
  drivers: StreamDriver[];
  vendureSecret: string;
  /** Pickups are scattered around this point. */
  centre: { lat: number; lon: number };
  /** sellerOrderIds are `${orderPrefix}-${n}`: unique per stream. */
  orderPrefix: string;
  /** Concurrent senders of seller-order-ready (default 2). */
  orderWorkers?: number;
  /** Pause of each order sender after an answer, in ms (default 150). */
  orderGapMs?: number;
  /** Each driver reports every this many ms (default 1000). */
  locationEveryMs?: number;
  /** Wait between two steps of a delivery, in ms (default 300 to 1200). */
  stepMs?: [number, number];
  /** Wait before retrying an attempt that got no answer or a 5xx, in ms (default 200). */
  retryMs?: number;
  /** Share of assigned orders whose seller-order-ready is sent again at once (a Vendure retry; default 0.1). */
  repeatShare?: number;
  fates?: Fates;
  /** Each attempt is abandoned (recorded as 'timeout') after this long (default 20 s). */
  requestTimeoutMs?: number;
  /** Seed of the stream's random choices (logged, so a run can be repeated). */
  seed?: number;
}

/** A small seeded PRNG (mulberry32), so a failing run can be replayed with the same choices. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const isRetryable = (status: RequestRecord['status']) => typeof status !== 'number' || status >= 500;

/** A field of an answer's body; undefined when the body is not a JSON object or has no such field. */
const field = (body: unknown, name: string): unknown =>
  typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;

/**
 * A steady stream of traffic against the service, as production sees it:
 * every driver reports its location every second with its own token;
 * Vendure sends signed seller-order-ready events (a share of them twice);
 * each assigned delivery is then moved by its driver (PICKED_UP, DELIVERED or
 * FAILED) or cancelled by Vendure, a step every fraction of a second.
 *
 * An attempt that gets no answer or a 5xx is retried, after `retryMs`, on the
 * next service process, with a fresh webhook-id (as Vendure would re-send a
 * failed event), until it is answered: every order ends with a definite answer
 * and every move is made once, however many attempts it took. Any other
 * answer is final. Every attempt is recorded (`records`); answers that
 * contradict the contract are collected in `anomalies`.
 *
 * `pause()` holds every order and delivery step (location reports go on, so
 * heartbeats stay fresh) and resolves once nothing of theirs is in flight:
 * the books are then still. `stop()` ends the stream, leaving the deliveries
 * that were under way live.
 */
export class LoadStream {
  readonly records: RequestRecord[] = [];
  readonly assignments: AssignedAnswer[] = [];
  /** Answers that break the contract (a repeat answered differently, a move refused...). */
  readonly anomalies: string[] = [];
  readonly seed: number;

  private readonly options: Required<LoadStreamOptions>;
  private readonly random: () => number;
  private running = false;
  private stopping = false;
  private gate?: { promise: Promise<void>; open: () => void };
  private inFlight = 0;
  private locationsInFlight = new Set<string>();
  private readonly tasks = new Set<Promise<unknown>>();
  private nextTarget = 0;
  private orderSeq = 0;
  private locationTimer?: NodeJS.Timeout;
  private readonly idle = new Set<() => void>();

  constructor(options: LoadStreamOptions) {
    this.options = {
      orderWorkers: 2,
      orderGapMs: 150,
      locationEveryMs: 1_000,
      stepMs: [300, 1_200],
      retryMs: 200,
      repeatShare: 0.1,
      fates: { deliver: 0.55, cancel: 0.15, pickUpThenCancel: 0.15, fail: 0.15 },
      requestTimeoutMs: 20_000,
      seed: Math.floor(Math.random() * 2 ** 31),
      ...options,
    };
    this.seed = this.options.seed;
    this.random = prng(this.seed);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const { drivers, locationEveryMs, orderWorkers } = this.options;
    let next = 0;
    // One driver's report at a time, spread evenly: each driver reports every `locationEveryMs`.
    this.locationTimer = setInterval(
      () => {
        if (drivers.length === 0) return;
        const driver = drivers[next++ % drivers.length];
        this.track(this.reportLocation(driver));
      },
      Math.max(5, Math.floor(locationEveryMs / Math.max(1, drivers.length))),
    );
    for (let i = 0; i < orderWorkers; i++) this.track(this.orderWorker());
  }

  /** Orders and moves in flight right now (location reports not counted). */
  get inFlightCount(): number {
    return this.inFlight;
  }

  /** How many attempts have been recorded: a mark to count from. */
  mark(): number {
    return this.records.length;
  }

  /** Attempts recorded since `from` (a `mark()`), optionally of some kinds only. */
  since(from: number, kinds?: RequestKind[]): RequestRecord[] {
    const slice = this.records.slice(from);
    return kinds ? slice.filter((r) => kinds.includes(r.kind)) : slice;
  }

  /**
   * Resolves once `count` attempts matching `filter` have been answered
   * (or failed) since `from`: a bounded way of holding a fault "while load runs".
   */
  async answered(from: number, count: number, filter: (r: RequestRecord) => boolean = () => true, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.records.slice(from).filter(filter).length < count) {
      if (Date.now() > deadline) {
        throw new Error(`only ${this.records.slice(from).filter(filter).length} of ${count} awaited answers arrived in ${timeoutMs} ms`);
      }
      await sleep(25);
    }
  }

  /** Holds orders and delivery steps (not location reports); resolves when none is in flight. */
  async pause(): Promise<void> {
    if (!this.gate) {
      let open!: () => void;
      const promise = new Promise<void>((resolve) => (open = resolve));
      this.gate = { promise, open };
    }
    await this.whenIdle();
  }

  resume(): void {
    const gate = this.gate;
    this.gate = undefined;
    gate?.open();
  }

  /**
   * Ends the stream: no new attempts; those in flight finish. Deliveries under
   * way stay where they are (live ones stay live).
   */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.locationTimer);
    this.resume();
    while (this.tasks.size > 0) await Promise.allSettled([...this.tasks]);
    this.running = false;
  }

  // ------------------------------------------------------------------ traffic

  private track<T>(task: Promise<T>): void {
    const tracked = task.catch((error: Error) => this.anomalies.push(`stream task failed: ${error.stack ?? error.message}`));
    this.tasks.add(tracked);
    void tracked.finally(() => this.tasks.delete(tracked));
  }

  private whenIdle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.add(resolve));
  }

  /** Waits at the gate; false when the stream is stopping. */
  private async pass(): Promise<boolean> {
    while (this.gate && !this.stopping) await this.gate.promise;
    return !this.stopping;
  }

  private pickup(): { lat: number; lon: number } {
    const { centre } = this.options;
    // Within about 3 km of the centre.
    return { lat: centre.lat + (this.random() - 0.5) * 0.05, lon: centre.lon + (this.random() - 0.5) * 0.08 };
  }

  private stepDelay(): number {
    const [min, max] = this.options.stepMs;
    return min + this.random() * (max - min);
  }

  private async orderWorker(): Promise<void> {
    while (await this.pass()) {
      this.orderSeq += 1;
      const sellerOrderId = `${this.options.orderPrefix}-${this.orderSeq}`;
      const pickup = this.pickup();
      const body = { sellerOrderId, pickupLat: pickup.lat, pickupLon: pickup.lon, channelId: 'default' };
      const answer = await this.untilAnswered('ready', 'POST', '/events/seller-order-ready', body, { signed: true, sellerOrderId });
      if (answer?.status === 200 && field(answer.body, 'assigned') === true) {
        const assigned: AssignedAnswer = { ...(answer.body as Omit<AssignedAnswer, 'answeredAt'>), answeredAt: Date.now() };
        this.assignments.push(assigned);
        if (this.random() < this.options.repeatShare) await this.repeat(body, assigned);
        this.track(this.deliveryFlow(assigned));
      } else if (answer && !(answer.status === 200 && field(answer.body, 'assigned') === false)) {
        this.anomalies.push(`seller-order-ready ${sellerOrderId} answered ${answer.status} ${JSON.stringify(answer.body)}`);
      }
      await sleep(this.options.orderGapMs);
    }
  }

  /** Vendure sends the same order again while its delivery is live: the same delivery must come back. */
  private async repeat(body: object, first: AssignedAnswer): Promise<void> {
    const answer = await this.untilAnswered('ready-repeat', 'POST', '/events/seller-order-ready', body, {
      signed: true,
      sellerOrderId: first.sellerOrderId,
    });
    if (!answer) return;
    const same =
      answer.status === 200 &&
      field(answer.body, 'assigned') === true &&
      field(answer.body, 'deliveryId') === first.deliveryId &&
      field(answer.body, 'driverId') === first.driverId;
    if (!same)
      this.anomalies.push(
        `repeat of ${first.sellerOrderId} answered ${answer.status} ${JSON.stringify(answer.body)}, first ${first.deliveryId}/${first.driverId}`,
      );
  }

  private async deliveryFlow(delivery: AssignedAnswer): Promise<void> {
    const driver = this.options.drivers.find((d) => d.id === delivery.driverId);
    const { fates } = this.options;
    const total = fates.deliver + fates.cancel + fates.pickUpThenCancel + fates.fail;
    let roll = this.random() * total;
    const fate = (Object.keys(fates) as Array<keyof Fates>).find((key) => (roll -= fates[key]) < 0) ?? 'deliver';
    const steps: Array<'picked_up' | 'delivered' | 'failed' | 'cancel'> =
      fate === 'deliver'
        ? ['picked_up', 'delivered']
        : fate === 'cancel'
          ? ['cancel']
          : fate === 'pickUpThenCancel'
            ? ['picked_up', 'cancel']
            : ['failed'];
    for (const step of steps) {
      await sleep(this.stepDelay());
      if (!(await this.pass())) return;
      let answer: { status: number; body: unknown } | undefined;
      if (step === 'cancel') {
        answer = await this.untilAnswered(
          'cancel',
          'POST',
          '/events/seller-order-cancelled',
          { sellerOrderId: delivery.sellerOrderId, reason: 'fault suite' },
          {
            signed: true,
            sellerOrderId: delivery.sellerOrderId,
          },
        );
        if (answer && !(answer.status === 200 && field(answer.body, 'deliveryId') === delivery.deliveryId)) {
          this.anomalies.push(`cancel of ${delivery.sellerOrderId} answered ${answer.status} ${JSON.stringify(answer.body)}`);
          return;
        }
      } else {
        // The driver itself moves its delivery (an operator would do as well when the driver is unknown to the stream).
        const status = step === 'picked_up' ? 'PICKED_UP' : step === 'delivered' ? 'DELIVERED' : 'FAILED';
        answer = await this.untilAnswered(
          step,
          'PATCH',
          `/deliveries/${delivery.deliveryId}/status`,
          step === 'failed' ? { status, reason: 'fault suite' } : { status },
          {
            bearer: driver?.token,
            deliveryId: delivery.deliveryId,
          },
        );
        if (answer && !(answer.status === 200 && field(answer.body, 'status') === status)) {
          this.anomalies.push(`${status} of ${delivery.deliveryId} answered ${answer.status} ${JSON.stringify(answer.body)}`);
          return;
        }
      }
      if (!answer) return;
    }
  }

  private async reportLocation(driver: StreamDriver): Promise<void> {
    // Skip a driver whose last report is still unanswered (a hung service): phones do not pile up requests either.
    if (this.stopping || this.locationsInFlight.has(driver.id)) return;
    this.locationsInFlight.add(driver.id);
    try {
      driver.lat += (this.random() - 0.5) * 0.0004;
      driver.lon += (this.random() - 0.5) * 0.0006;
      const answer = await this.attempt(
        'location',
        'PATCH',
        `/drivers/${driver.id}/location`,
        { lat: driver.lat, lon: driver.lon },
        { bearer: driver.token },
        false,
      );
      if (typeof answer.status === 'number' && answer.status !== 200 && answer.status !== 503) {
        this.anomalies.push(`location of ${driver.id} answered ${answer.status} ${JSON.stringify(answer.body)}`);
      }
    } finally {
      this.locationsInFlight.delete(driver.id);
    }
  }

  /**
   * Sends until answered with a status below 500; undefined when the stream
   * stops first. Each attempt goes to the next service process.
   */
  private async untilAnswered(
    kind: RequestKind,
    method: string,
    path: string,
    body: object,
    auth: { signed?: boolean; bearer?: string; sellerOrderId?: string; deliveryId?: string },
  ): Promise<{ status: number; body: unknown } | undefined> {
    for (;;) {
      if (!(await this.pass())) return undefined;
      const answer = await this.attempt(kind, method, path, body, auth, true);
      if (!isRetryable(answer.status)) return answer as { status: number; body: unknown };
      await sleep(this.options.retryMs);
    }
  }

  private async attempt(
    kind: RequestKind,
    method: string,
    path: string,
    body: object,
    auth: { signed?: boolean; bearer?: string; sellerOrderId?: string; deliveryId?: string },
    counted: boolean,
  ): Promise<{ status: RequestRecord['status']; body?: unknown }> {
    const target = this.nextTarget++ % this.options.targets.length;
    const raw = JSON.stringify(body);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-request-id': `fault-${kind}-${randomUUID()}` };
    // A fresh webhook-id per attempt: a re-sent event is a new message, as when Vendure retries a failed one.
    if (auth.signed) Object.assign(headers, signedHeaders(this.options.vendureSecret, raw));
    if (auth.bearer) headers.authorization = `Bearer ${auth.bearer}`;
    const record: RequestRecord = {
      kind,
      status: 'network',
      target,
      startedAt: Date.now(),
      endedAt: 0,
      sellerOrderId: auth.sellerOrderId,
      deliveryId: auth.deliveryId,
    };
    if (counted) this.inFlight += 1;
    let parsed: unknown;
    try {
      // The signal bounds the whole exchange, body included.
      const response = await fetch(`${this.options.targets[target]}${path}`, {
        method,
        headers,
        body: raw,
        signal: AbortSignal.timeout(this.options.requestTimeoutMs),
      });
      const text = await response.text();
      record.status = response.status;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
      const code = field(parsed, 'code');
      if (response.status >= 400 && typeof code === 'string') record.code = code;
      if (kind === 'ready' && response.status === 200) {
        const deliveryId = field(parsed, 'deliveryId');
        record.outcome = field(parsed, 'assigned') ? 'assigned' : 'no-driver';
        if (typeof deliveryId === 'string' && deliveryId) record.deliveryId = deliveryId;
      }
    } catch (error) {
      record.status = ['TimeoutError', 'AbortError'].includes((error as Error).name) ? 'timeout' : 'network';
    } finally {
      record.endedAt = Date.now();
      this.records.push(record);
      if (counted) {
        this.inFlight -= 1;
        if (this.inFlight === 0) {
          for (const resolve of this.idle) resolve();
          this.idle.clear();
        }
      }
    }
    return { status: record.status, body: parsed };
  }
}
