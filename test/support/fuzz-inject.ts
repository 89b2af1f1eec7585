import { ServerResponse } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import { Readable, Writable } from 'node:stream';

/**
 * In-process HTTP requests for the fuzz suite: the request goes straight to
 * the Node server's 'request' listener (Fastify's router), without a socket.
 *
 * Fastify's own `app.inject` cannot be used under Jest's ESM runtime: it
 * lazily `require`s light-my-request, which requires the ESM-only `cookie`
 * package, and Jest's module loader cannot `require` ESM on Node 20. This is a
 * minimal stand-in modelled on light-my-request: a Readable carrying the body
 * as the IncomingMessage, and a ServerResponse writing to a null socket whose
 * bytes are captured. Headers are passed as given (lower-cased), so callers
 * must only use values a real HTTP parser would accept; byte-level oddities
 * go over a real socket instead.
 */
export interface InjectRequest {
  method: string;
  url: string;
  headers?: Record<string, string | string[]>;
  payload?: string | Buffer;
}

export interface InjectResponse {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
}

class FakeRequest extends Readable {
  readonly httpVersion = '1.1';
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor = 1;
  readonly complete = true;
  readonly aborted = false;
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string | string[]>;
  readonly rawHeaders: string[];
  readonly socket: object;
  readonly connection: object;
  private sent = false;

  constructor(
    request: InjectRequest,
    private readonly body: Buffer | undefined,
  ) {
    super();
    this.method = request.method.toUpperCase();
    this.url = request.url;
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(request.headers ?? {})) headers[name.toLowerCase()] = value;
    if (body !== undefined && headers['content-length'] === undefined && headers['transfer-encoding'] === undefined) {
      headers['content-length'] = String(body.length);
    }
    headers.host ??= 'localhost:80';
    this.headers = headers;
    this.rawHeaders = Object.entries(headers).flatMap(([name, value]) =>
      (Array.isArray(value) ? value : [value]).flatMap((v) => [name, v]),
    );
    this.socket = this.connection = { remoteAddress: '127.0.0.1', remotePort: 1, encrypted: false, destroy: () => undefined };
  }

  override _read(): void {
    if (this.sent) return;
    this.sent = true;
    if (this.body !== undefined && this.body.length > 0) this.push(this.body);
    this.push(null);
  }
}

function nullSocket(): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      setImmediate(callback);
    },
  });
}

class CapturingResponse extends ServerResponse {
  readonly chunks: Buffer[] = [];
  private finished_ = false;

  constructor(
    request: IncomingMessage,
    private readonly onDone: (response: CapturingResponse, error?: Error) => void,
  ) {
    super(request);
    this.assignSocket(nullSocket() as never);
    this.once('error', (error) => this.done(error));
  }

  /** Headers given to writeHead directly (Fastify sends them so), which getHeaders() does not list. */
  readonly written: Record<string, unknown> = {};

  override writeHead(statusCode: number, ...rest: unknown[]): this {
    const headers = rest.find((arg) => typeof arg === 'object' && arg !== null && !Array.isArray(arg)) as
      Record<string, unknown> | undefined;
    for (const [name, value] of Object.entries(headers ?? {})) this.written[name.toLowerCase()] = value;
    return super.writeHead(statusCode, ...(rest as [never]));
  }

  override write(data: unknown, encoding?: unknown, callback?: unknown): boolean {
    if (data !== undefined && data !== null) {
      this.chunks.push(
        Buffer.isBuffer(data) ? data : Buffer.from(data as string, (typeof encoding === 'string' ? encoding : 'utf8') as BufferEncoding),
      );
    }
    return super.write(data, encoding as never, callback as never);
  }

  override end(data?: unknown, encoding?: unknown, callback?: unknown): this {
    if (typeof data === 'function') return this.end(undefined, undefined, data);
    if (typeof encoding === 'function') return this.end(data, undefined, encoding);
    if (data !== undefined && data !== null) this.write(data, encoding);
    super.end(callback as never);
    this.done();
    return this;
  }

  private done(error?: Error): void {
    if (this.finished_) return;
    this.finished_ = true;
    this.onDone(this, error);
  }
}

/** Sends one request to `server` in-process and resolves with the answer, or rejects after `timeoutMs`. */
export function inject(server: Server, request: InjectRequest, timeoutMs: number): Promise<InjectResponse> {
  const body =
    request.payload === undefined ? undefined : Buffer.isBuffer(request.payload) ? request.payload : Buffer.from(request.payload);
  return new Promise<InjectResponse>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no answer within ${timeoutMs} ms: ${request.method} ${request.url.slice(0, 200)}`)),
      timeoutMs,
    );
    const req = new FakeRequest(request, body) as unknown as IncomingMessage;
    const res = new CapturingResponse(req, (response, error) => {
      clearTimeout(timer);
      if (error) return reject(error);
      resolve({
        statusCode: response.statusCode,
        headers: { ...response.written, ...(response.getHeaders() as Record<string, unknown>) },
        body: Buffer.concat(response.chunks).toString('utf8'),
      });
    });
    server.emit('request', req, res);
  });
}
