import type { NextFunction, Request, Response } from 'express';

export type RequestWithRawBody = Request & { rawBody?: Buffer; _body?: boolean };

/** Webhook bodies are small; anything larger is refused before it is read. */
const LIMIT_BYTES = 256 * 1024;

/**
 * Keeps the exact bytes of the request body: the webhook signature is over the
 * raw body, and a body re-serialised from parsed JSON would not match it. Once
 * the stream is read, Vendure's global JSON parser passes the request by.
 */
export function rawBodyMiddleware(req: RequestWithRawBody, res: Response, next: NextFunction): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > LIMIT_BYTES) {
            if (!refused) res.status(413).type('text/plain').send('Payload too large');
            refused = true;
            return;
        }
        chunks.push(chunk);
    });
    req.on('end', () => {
        if (refused) return;
        req.rawBody = Buffer.concat(chunks);
        req._body = true; // body-parser's own mark of a body already read
        next();
    });
    req.on('error', next);
}
