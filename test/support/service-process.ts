import { ChildProcess, execFile, fork } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';

export const MAIN = resolve('dist/src/main.js');

/**
 * The built service (`node dist/src/main.js`, as `npm start` runs it) in a
 * child process with an IPC channel, as PM2 runs it. Only the given
 * variables are passed, so the developer's environment cannot leak in.
 */
export class ServiceProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(env: Record<string, string>) {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does).`);
    this.child = fork(MAIN, [], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.child.stdout!.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = once(this.child, 'exit').then(([code]) => code as number | null);
  }

  /** Resolves on the 'ready' message the service sends once it listens (PM2's wait_ready). */
  ready(): Promise<void> {
    return new Promise((resolveReady, reject) => {
      this.child.on('message', (message) => message === 'ready' && resolveReady());
      void this.exited.then((code) => reject(new Error(`service exited (${code}) before ready:\n${this.stderr}${this.stdout}`)));
    });
  }

  /** Resolves once a log line containing `text` has been written. */
  async logged(text: string): Promise<void> {
    while (!this.stdout.includes(text)) await once(this.child.stdout!, 'data');
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}

/**
 * Applies the migrations with the built service's own script, as
 * `npm run migration:run` does: the schema exists before any process starts.
 */
export async function migrateWithBuiltService(databaseUrl: string): Promise<void> {
  await promisify(execFile)(process.execPath, [MAIN.replace(/main\.js$/, 'database/migrate.js')], {
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl },
  });
}

/** `count` built service processes on free ports with one environment, as PM2 cluster workers; resolves once all are ready. */
export async function startServiceProcesses(
  count: number,
  env: Record<string, string>,
): Promise<{ services: ServiceProcess[]; bases: string[] }> {
  const services: ServiceProcess[] = [];
  const bases: string[] = [];
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    bases.push(`http://127.0.0.1:${port}`);
    services.push(new ServiceProcess({ PORT: String(port), ...env }));
  }
  await Promise.all(services.map((service) => service.ready()));
  return { services, bases };
}
