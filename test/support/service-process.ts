import { ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

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
