import { once } from 'node:events';
import http from 'node:http';

export type Fault = 'lose-answer' | '503' | '429';

/**
 * Between a client and the real service: each request is forwarded, met with
 * the next planned fault, or held until released. 'lose-answer' forwards the
 * request (the service acts) and then drops the connection, so the answer
 * never arrives.
 */
export async function serviceFront(target: string) {
    const plan: Fault[] = [];
    const seen: Array<{ path: string; webhookId: string; outcome: string }> = [];
    const holds = new Map<string, { reached: () => void; released: Promise<void> }>();

    const server = http.createServer(async (req, res) => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        const path = req.url ?? '/';
        const webhookId = String(req.headers['webhook-id']);
        const hold = holds.get(path);
        if (hold) {
            holds.delete(path);
            hold.reached();
            await hold.released;
        }
        const fault = plan.shift();
        if (fault === '503' || fault === '429') {
            seen.push({ path, webhookId, outcome: fault });
            res.writeHead(Number(fault), { 'content-type': 'application/json', ...(fault === '429' ? { 'retry-after': '1' } : {}) });
            return void res.end(JSON.stringify({ code: fault === '503' ? 'DATABASE_UNAVAILABLE' : 'RATE_LIMITED' }));
        }
        const headers = Object.fromEntries(
            Object.entries(req.headers).filter(([name]) => !['host', 'content-length', 'connection'].includes(name)),
        ) as Record<string, string>;
        const answer = await fetch(new URL(path, target), { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
        const text = await answer.text();
        seen.push({ path, webhookId, outcome: fault ?? String(answer.status) });
        if (fault === 'lose-answer') return void res.socket?.destroy();
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(text);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };

    return {
        url: `http://127.0.0.1:${port}`,
        plan,
        seen,
        /** Holds the next request to `path` before forwarding it: `reached` resolves once it arrives, `release()` lets it go on. */
        hold(path: string) {
            let release!: () => void;
            let reachedResolve!: () => void;
            const released = new Promise<void>(done => (release = done));
            const reached = new Promise<void>(done => (reachedResolve = done));
            holds.set(path, { reached: reachedResolve, released });
            return { reached, release };
        },
        close: () => new Promise<void>(done => server.close(() => done())),
    };
}
