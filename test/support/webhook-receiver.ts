import http, { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { eventually } from './eventually.js';
import { VENDURE_SECRET } from './test-app.js';

/** What the service sends to Vendure for each delivery change (api-contract.md, "Webhooks"). */
export interface WebhookPayload {
  type: string;
  timestamp: string;
  data: {
    deliveryId: string;
    sellerOrderId: string;
    channelId: string | null;
    driverId: string;
    status: string;
    distanceMeters: number;
    occurredAt: string;
    [extra: string]: unknown;
  };
}

/** How the receiver answers one request: a status (with headers), or never ('hang'). */
export type Answer = number | 'hang' | { status: number; headers?: Record<string, string> };

export interface ReceivedRequest {
  /** Order of arrival over every request this receiver got since the last reset, from 0. */
  index: number;
  method: string;
  path: string;
  /** The webhook-id header. */
  id: string;
  headers: IncomingHttpHeaders;
  rawBody: string;
  /** The verified, parsed body; undefined when verification failed (see `error`). */
  body?: WebhookPayload;
  /** Why `standardwebhooks` refused the message, when it did. */
  error?: string;
  /** The status answered, or 'hang' while (and after) the request was held open. */
  answered?: number | 'hang';
}

/**
 * A stand-in for Vendure's webhook endpoint: a real node:http server on a
 * free port of 127.0.0.1. Every request is verified with the reference
 * `standardwebhooks` package (new Webhook(secret).verify(rawBody, headers));
 * one that does not verify is answered 400 and kept, with the reason, so a
 * test can insist there were none. It records each request in order of
 * arrival, answers what `respond` says (200 unless told otherwise; 'hang'
 * never answers), optionally after a delay of its own (a slow receiver), and
 * notes when a webhook-id arrives while a request with the same id is still
 * being answered (`overlaps`).
 */
export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  /** webhook-ids that arrived while an earlier request with the same id was still unanswered. */
  readonly overlaps: string[] = [];
  /** How long the receiver takes to answer each request, in ms (its own work, not the test's). */
  delayMs = 0;
  private respond: (request: ReceivedRequest) => Answer = () => 200;
  private readonly inFlight = new Map<string, number>();
  private readonly held = new Set<ServerResponse>();
  private readonly server: http.Server;
  private readonly verifier: Webhook;
  port = 0;

  constructor(secret = VENDURE_SECRET) {
    this.verifier = new Webhook(secret);
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  async start(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/vendure/webhooks`;
  }

  /** Drops held requests and open connections, and stops listening. */
  async close(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.held.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Forget what was received and answer 200 again, at once. */
  reset(): void {
    this.requests.length = 0;
    this.overlaps.length = 0;
    this.delayMs = 0;
    this.respond = () => 200;
  }

  /** Decide each answer from the request (its index, id, body...). */
  answerWith(respond: (request: ReceivedRequest) => Answer): void {
    this.respond = respond;
  }

  answerAlways(answer: Answer): void {
    this.respond = () => answer;
  }

  /** `answer` for the first `n` requests (counted from now), then `then`. */
  answerFirst(n: number, answer: Answer, then: Answer = 200): void {
    const start = this.requests.length;
    this.respond = (request) => (request.index - start < n ? answer : then);
  }

  /** Requests answered 2xx, in order of arrival. */
  accepted(): ReceivedRequest[] {
    return this.requests.filter((r) => typeof r.answered === 'number' && r.answered >= 200 && r.answered < 300);
  }

  /**
   * What a receiver that de-duplicates by webhook-id ends up processing: the
   * first accepted request of each id, in order of arrival.
   */
  processed(): ReceivedRequest[] {
    const seen = new Set<string>();
    return this.accepted().filter((r) => !seen.has(r.id) && (seen.add(r.id), true));
  }

  /** Every request carrying this webhook-id, in order of arrival. */
  attemptsOf(id: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.id === id);
  }

  /** Requests that did not verify with `standardwebhooks` (there should be none). */
  invalid(): ReceivedRequest[] {
    return this.requests.filter((r) => r.error !== undefined);
  }

  /** Waits (polling) until `check` holds for this receiver's records. */
  waitFor(check: (receiver: this) => boolean, what: string, timeoutMs = 15_000): Promise<true> {
    return eventually(() => check(this) || undefined, { what: `the receiver to see ${what}`, timeoutMs });
  }

  private async handle(req: http.IncomingMessage, res: ServerResponse): Promise<void> {
    const id = String(req.headers['webhook-id'] ?? '');
    const running = this.inFlight.get(id) ?? 0;
    if (id && running > 0) this.overlaps.push(id);
    this.inFlight.set(id, running + 1);
    let done = false;
    const finished = () => {
      if (done) return;
      done = true;
      const left = (this.inFlight.get(id) ?? 1) - 1;
      if (left === 0) this.inFlight.delete(id);
      else this.inFlight.set(id, left);
    };
    // The sender may give up (abort, or be killed) before an answer: it is no longer in flight then either.
    res.on('close', finished);

    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const request: ReceivedRequest = {
      index: this.requests.length,
      method: req.method ?? '',
      path: req.url ?? '',
      id,
      headers: req.headers,
      rawBody,
    };
    this.requests.push(request);
    try {
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : String(value ?? '')]),
      );
      request.body = this.verifier.verify(rawBody, headers) as WebhookPayload;
    } catch (error) {
      request.error = (error as Error).message;
    }

    const answer: Answer = request.error !== undefined ? 400 : this.respond(request);
    if (answer === 'hang') {
      request.answered = 'hang';
      this.held.add(res);
      return;
    }
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    const { status, headers } = typeof answer === 'number' ? { status: answer, headers: {} } : { headers: {}, ...answer };
    request.answered = status;
    // Out of flight as the answer starts: the sender cannot have acted on it before this.
    finished();
    res.writeHead(status, { 'content-type': 'text/plain', ...headers });
    res.end(`${status}\n`);
  }
}
