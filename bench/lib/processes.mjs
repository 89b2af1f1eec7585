// @ts-check
/** Child processes of the benchmark: the service, the baseline server, the load generator. */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A Node script in its own process with an IPC channel; it says 'ready' (as
 * the service does for PM2) once it listens. Output goes to `<logDir>/<name>.log`.
 */
export class NodeProcess {
  /**
   * @param {string} script
   * @param {{ name: string, env: Record<string, string>, logDir: string, nodeArgs?: string[], args?: string[] }} options
   */
  constructor(script, { name, env, logDir, nodeArgs = [], args = [] }) {
    this.name = name;
    this.log = createWriteStream(join(logDir, `${name}.log`), { flags: 'a' });
    this.child = fork(script, args, {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      execArgv: nodeArgs,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.output = '';
    for (const stream of [this.child.stdout, this.child.stderr]) {
      stream?.on('data', (/** @type {Buffer} */ chunk) => {
        this.log.write(chunk);
        // Keep the tail only: enough to explain a failure.
        this.output = (this.output + chunk.toString()).slice(-20_000);
      });
    }
    this.stopping = false;
    /** How it ended, when it did: "code 1", "signal SIGKILL". */
    this.ending = '';
    this.exited = once(this.child, 'exit').then(([code, signal]) => {
      this.ending = signal ? `signal ${signal}` : `code ${code}`;
      return /** @type {number | null} */ (code);
    });
  }

  /** True when it exited without being asked to. */
  get died() {
    return this.ending !== '' && !this.stopping;
  }

  get pid() {
    return /** @type {number} */ (this.child.pid);
  }

  /** Resolves on the child's 'ready' message; rejects if it exits first or takes too long. */
  ready(timeoutMs = 120_000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not ready after ${timeoutMs} ms:\n${this.output}`)), timeoutMs);
      this.child.on('message', (message) => message === 'ready' && (clearTimeout(timer), resolve(undefined)));
      void this.exited.then((code) => (clearTimeout(timer), reject(new Error(`exited (${code}) before ready:\n${this.output}`))));
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves to the exit code. */
  async stop(graceMs = 15_000) {
    this.stopping = true;
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    this.log.end();
    return this.exited;
  }

  /** Resident and peak resident memory in MB (Linux /proc); NaN once it has exited. */
  memory() {
    if (this.ending) return { rssMb: NaN, peakMb: NaN };
    const status = readFileSync(join('/proc', String(this.pid), 'status'), 'utf8');
    const kb = (/** @type {string} */ field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
  }
}
