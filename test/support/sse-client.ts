import http, { IncomingHttpHeaders } from 'node:http';
import { eventually } from './eventually.js';

export interface SseEvent {
  id: string | null;
  type: string;
  data: Record<string, unknown>;
  /** When the client read it (Date.now()). */
  receivedAt: number;
}

/**
 * A Server-Sent Events client over node:http, as a browser's EventSource
 * reads the stream (fields id, event, data; comment lines kept apart), with
 * no reconnection of its own: a test reconnects explicitly, with the
 * Last-Event-ID it chooses.
 */
export class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  status = 0;
  headers: IncomingHttpHeaders = {};
  ended = false;
  private request?: http.ClientRequest;
  private buffer = '';

  private constructor(private readonly url: string) {}

  /** Opens the stream; resolves once the answer's head has arrived (any status: see `status`). */
  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const client = new SseClient(url);
    await client.connect(headers);
    return client;
  }

  private connect(headers: Record<string, string>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.request = http.get(this.url, { headers: { accept: 'text/event-stream', ...headers }, agent: false }, (response) => {
        this.status = response.statusCode ?? 0;
        this.headers = response.headers;
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => this.read(chunk));
        response.on('end', () => (this.ended = true));
        response.on('close', () => (this.ended = true));
        response.on('error', () => (this.ended = true));
        resolve();
      });
      this.request.on('error', (error) => (this.status === 0 ? reject(error) : (this.ended = true)));
    });
  }

  private read(chunk: string): void {
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let id: string | null = null;
      let type = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
        else if (line.startsWith('id: ')) id = line.slice(4);
        else if (line.startsWith('event: ')) type = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length > 0) this.events.push({ id, type, data: JSON.parse(data.join('\n')), receivedAt: Date.now() });
    }
  }

  ofType(type: string): SseEvent[] {
    return this.events.filter((event) => event.type === type);
  }

  /** The statuses of the `status` events so far, in order. */
  statuses(): string[] {
    return this.ofType('status').map((event) => String(event.data.status));
  }

  /** Waits until an event satisfies `match`, and answers it. */
  waitFor(match: (event: SseEvent) => boolean, what: string, timeoutMs = 10_000): Promise<SseEvent> {
    return eventually(() => this.events.find(match), { what, timeoutMs, everyMs: 20 });
  }

  waitForStatus(status: string): Promise<SseEvent> {
    return this.waitFor((event) => event.type === 'status' && event.data.status === status, `status ${status}`);
  }

  /** The last event's id: what a reconnecting EventSource sends as Last-Event-ID. */
  lastEventId(): string | null {
    return this.events.at(-1)?.id ?? null;
  }

  /** Drops the connection, as a closed browser tab does. */
  close(): void {
    this.request?.destroy();
    this.ended = true;
  }
}
