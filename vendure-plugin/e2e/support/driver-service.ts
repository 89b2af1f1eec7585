import { ChildProcess, fork } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { Client } from 'pg';

/** The service built from this repository (`npm run build` at the root). */
export const SERVICE_MAIN = resolve(__dirname, '../../../../dist/src/main.js');
const PG_ADMIN_URL = process.env.E2E_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.E2E_REDIS_URL ?? 'redis://127.0.0.1:6379';

export const WEBHOOK_SECRET = `whsec_${randomBytes(32).toString('base64')}`;
export const ADMIN_API_KEY = randomBytes(24).toString('hex');

/** One statement on the local PostgreSQL's maintenance database (CREATE/DROP DATABASE). */
export async function adminSql(sql: string): Promise<void> {
    const client = new Client({ connectionString: PG_ADMIN_URL });
    await client.connect();
    try {
        await client.query(sql);
    } finally {
        await client.end();
    }
}

export async function freePort(): Promise<number> {
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    await new Promise(done => server.close(done));
    return port;
}

export interface Driver {
    id: string;
    token: string;
}

/**
 * The real driver service in a child process, on a database of its own in the
 * local PostgreSQL and a key prefix of its own in the local Redis, sending its
 * webhooks to `webhookUrl`.
 */
export class DriverService {
    private child?: ChildProcess;
    private output = '';
    readonly database = `vendure_plugin_e2e_${process.pid}_${randomInt(1_000_000)}`;
    url = '';

    constructor(private webhookUrl: string) {}

    async start(): Promise<void> {
        if (!existsSync(SERVICE_MAIN)) throw new Error(`${SERVICE_MAIN} is missing: run \`npm run build\` in the repository root first`);
        await this.admin(`CREATE DATABASE ${this.database}`);
        const port = await freePort();
        this.url = `http://127.0.0.1:${port}`;
        this.child = fork(SERVICE_MAIN, [], {
            env: {
                PATH: process.env.PATH ?? '',
                HOME: process.env.HOME ?? '/tmp',
                NODE_ENV: 'test',
                LOG_LEVEL: 'warn',
                PORT: String(port),
                PUBLIC_BASE_URL: this.url,
                DATABASE_URL: PG_ADMIN_URL.replace(/\/[^/]*$/, `/${this.database}`),
                REDIS_URL,
                REDIS_KEY_PREFIX: `${this.database}:`,
                VENDURE_WEBHOOK_SECRET: WEBHOOK_SECRET,
                // The plugin binds every event to its route: the service may require it.
                SIGNED_TARGET: 'required',
                VENDURE_WEBHOOK_URL: this.webhookUrl,
                ADMIN_API_KEY,
                WEBHOOK_RETRY_SCHEDULE_SECONDS: '0,0.2,0.5,1,1,1,1,1',
                DISPATCH_TIMER_INTERVAL_MS: '100',
            },
            stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        });
        this.child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
        this.child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
        await new Promise<void>((ready, fail) => {
            this.child!.on('message', message => message === 'ready' && ready());
            this.child!.on('exit', code => fail(new Error(`driver service exited (${code}) before ready:\n${this.output}`)));
        });
    }

    async stop(): Promise<void> {
        if (this.child && this.child.exitCode === null) {
            this.child.kill('SIGTERM');
            await once(this.child, 'exit');
        }
        await this.admin(`DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`);
    }

    private admin(sql: string): Promise<void> {
        return adminSql(sql);
    }

    async call<T = Record<string, any>>(method: string, path: string, token: string, body?: object): Promise<{ status: number; body: T }> {
        const response = await fetch(new URL(path, this.url), {
            method,
            headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
            body: body ? JSON.stringify(body) : undefined,
        });
        const text = await response.text();
        return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
    }

    private async ok<T = Record<string, any>>(method: string, path: string, token: string, body?: object): Promise<T> {
        const { status, body: answer } = await this.call<T>(method, path, token, body);
        if (status !== 200 && status !== 201) throw new Error(`${method} ${path}: ${status} ${JSON.stringify(answer)}`);
        return answer;
    }

    async newDriver(name: string): Promise<Driver> {
        const driver = await this.ok('POST', '/drivers', ADMIN_API_KEY, { name, phone: `+49151${randomInt(10_000_000, 99_999_999)}` });
        return { id: driver.id, token: driver.token };
    }

    /** Online at `point`, AVAILABLE: choosable for an order nearby. */
    async available(driver: Driver, point: { lat: number; lon: number }): Promise<void> {
        await this.ok('PATCH', `/drivers/${driver.id}/location`, driver.token, point);
        await this.ok('PATCH', `/drivers/${driver.id}/status`, driver.token, { status: 'AVAILABLE' });
    }

    driver(id: string): Promise<Record<string, any>> {
        return this.ok('GET', `/drivers/${id}`, ADMIN_API_KEY);
    }

    delivery(id: string): Promise<Record<string, any>> {
        return this.ok('GET', `/deliveries/${id}`, ADMIN_API_KEY);
    }

    /** The driver reports progress on its delivery: PICKED_UP, DELIVERED or FAILED. */
    move(driver: Driver, deliveryId: string, status: string): Promise<Record<string, any>> {
        return this.ok('PATCH', `/deliveries/${deliveryId}/status`, driver.token, { status });
    }

    webhookMessages(status: string): Promise<{ items: Array<Record<string, any>> }> {
        return this.ok('GET', `/webhooks/messages?status=${status}`, ADMIN_API_KEY);
    }
}
