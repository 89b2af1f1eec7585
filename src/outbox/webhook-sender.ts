import http from 'node:http';
import https from 'node:https';

export interface SendOutcome {
  statusCode: number;
  /** The receiver's Retry-After header, if any. */
  retryAfter: string | null;
}

/**
 * POSTs webhook bodies to one URL over keep-alive connections (at most
 * `maxSockets` at once), with node's own HTTP client: far less work per
 * message than `fetch`. Redirects are not followed (a 3xx is an answer, not a
 * delivery); the response body is read and dropped. A request on a reused
 * connection that the receiver closed meanwhile (ECONNRESET before any
 * answer) is sent once more on a new connection of its own: the receiver de-duplicates by
 * webhook-id in any case.
 */
export class WebhookSender {
  private readonly url: URL;
  private readonly transport: typeof http | typeof https;
  private readonly agent: http.Agent;

  constructor(url: string, maxSockets: number) {
    this.url = new URL(url);
    this.transport = this.url.protocol === 'https:' ? https : http;
    // Idle connections are closed before the receiver's own keep-alive timeout, when it announces one.
    this.agent = new this.transport.Agent({ keepAlive: true, maxSockets, timeout: 4_000 });
  }

  async post(headers: Record<string, string>, body: string, signal: AbortSignal): Promise<SendOutcome> {
    try {
      return await this.attempt(headers, body, signal);
    } catch (error) {
      if (!(error instanceof StaleConnectionError)) throw error;
      return this.attempt(headers, body, signal, true);
    }
  }

  /** Closes the idle connections. */
  close(): void {
    this.agent.destroy();
  }

  /** `fresh`: on a connection of its own, not one the receiver may have closed as well. */
  private attempt(headers: Record<string, string>, body: string, signal: AbortSignal, fresh = false): Promise<SendOutcome> {
    return new Promise((resolve, reject) => {
      const request = this.transport.request(
        this.url,
        {
          method: 'POST',
          agent: fresh ? false : this.agent,
          signal,
          headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        },
        (response) => {
          const outcome = { statusCode: response.statusCode ?? 0, retryAfter: header(response.headers['retry-after']) };
          response.on('error', reject);
          response.on('end', () => resolve(outcome));
          response.resume();
        },
      );
      request.on('error', (error: NodeJS.ErrnoException) => {
        reject(request.reusedSocket && error.code === 'ECONNRESET' && !signal.aborted ? new StaleConnectionError() : error);
      });
      request.end(body);
    });
  }
}

class StaleConnectionError extends Error {
  constructor() {
    super('the receiver reset a kept-alive connection before answering');
  }
}

const header = (value: string | string[] | undefined): string | null => (Array.isArray(value) ? value[0] : value) ?? null;
