import net from 'node:net';

export interface RawResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Writes `request` (exact bytes, a whole HTTP/1.1 request) to a fresh TCP
 * connection and reads the answer until the server closes it (the request
 * should carry `connection: close`) or the first complete response arrived.
 * Rejects when nothing complete arrives within `timeoutMs`: a hang.
 */
export function rawRequest(port: number, request: Buffer | string, timeoutMs: number): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      const parsed = parse(Buffer.concat(chunks));
      if (!error && !parsed) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (parsed) resolve(parsed);
      else if (error) reject(error);
    };
    const timer = setTimeout(() => finish(new Error(`no complete answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      finish();
    });
    socket.on('end', () =>
      finish(
        new Error(`connection closed without a complete answer: ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 300))}`),
      ),
    );
    socket.on('error', (error) => finish(error));
    socket.write(request);
  });
}

/**
 * Sends `head` at once, then `rest` one byte every `everyMs`, as a client on a
 * hostile or broken link does, and reads the answer until the server closes the
 * connection. Rejects when it is not closed with a complete answer within `timeoutMs`.
 */
export function drippedRequest(port: number, head: string, rest: string, everyMs: number, timeoutMs: number): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let sent = 0;
    const drip = setInterval(() => sent < rest.length && socket.writable && socket.write(rest[sent++]), everyMs);
    const timer = setTimeout(() => socket.destroy(new Error(`not closed with an answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', (chunk) => chunks.push(chunk));
    // The server closes a socket it cut while bytes are still arriving: the reset that may follow is expected.
    socket.on('error', (error) => error.message.startsWith('not closed') && reject(error));
    socket.on('close', () => {
      clearInterval(drip);
      clearTimeout(timer);
      const parsed = parse(Buffer.concat(chunks));
      if (parsed) resolve(parsed);
      else reject(new Error(`closed without a complete answer after ${sent} of ${rest.length} dripped bytes`));
    });
    socket.write(head);
  });
}

/** A complete HTTP/1.1 response in `data`, or undefined when more bytes are needed. */
function parse(data: Buffer): RawResponse | undefined {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const [statusLine, ...lines] = data.subarray(0, headEnd).toString('latin1').split('\r\n');
  const statusCode = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
  // An interim answer (100 Continue): the final one follows.
  if (statusCode >= 100 && statusCode < 200) return parse(data.subarray(headEnd + 4));
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let rest = data.subarray(headEnd + 4);
  if (headers['transfer-encoding'] === 'chunked') {
    const body: Buffer[] = [];
    for (;;) {
      const lineEnd = rest.indexOf('\r\n');
      if (lineEnd < 0) return undefined;
      const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
      if (size === 0) return { statusCode, headers, body: Buffer.concat(body).toString('utf8') };
      if (rest.length < lineEnd + 2 + size + 2) return undefined;
      body.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      rest = rest.subarray(lineEnd + 2 + size + 2);
    }
  }
  const length = Number(headers['content-length'] ?? 0);
  if (rest.length < length) return undefined;
  return { statusCode, headers, body: rest.subarray(0, length).toString('utf8') };
}
