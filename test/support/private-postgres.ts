import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';

const run = promisify(execFile);
export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** PostgreSQL refuses to run as root: as root, its tools run as the `postgres` user. */
const AS_ROOT = process.getuid?.() === 0;

function command(tool: string, args: string[]): [string, string[]] {
  const binary = join(PG_BIN, tool);
  return AS_ROOT ? ['runuser', ['-u', 'postgres', '--', binary, ...args]] : [binary, args];
}

export type StopMode = 'smart' | 'fast' | 'immediate';

/**
 * A throw-away PostgreSQL cluster of this test's own (initdb into a temporary
 * directory, its own free port, trust authentication on 127.0.0.1 only), which
 * the test may stop (`fast`: sessions are terminated; `immediate`: a crash,
 * recovered at the next start) and start again on the same port and data.
 * The shared server on 5432 is never touched.
 */
export class PrivatePostgres {
  port = 0;
  dir = '';
  private running = false;
  private readonly onExit = () => this.killSync();

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Creates the cluster (once) and starts it. */
  async start(): Promise<void> {
    if (!this.dir) await this.init();
    const options = [
      `-p ${this.port}`,
      `-k ${this.dir}`,
      '-c listen_addresses=127.0.0.1',
      // Durable against a crash of PostgreSQL (what the tests do), not of the machine: faster, same semantics here.
      '-c fsync=off',
      '-c full_page_writes=off',
      '-c max_connections=80',
      '-c shared_buffers=32MB',
    ].join(' ');
    const [file, args] = command('pg_ctl', [
      '-D',
      this.dataDir,
      '-l',
      join(this.dir, 'server.log'),
      '-o',
      options,
      '-w',
      '-t',
      '60',
      'start',
    ]);
    await run(file, args);
    this.running = true;
  }

  /** Stops the server; `immediate` is a crash (no checkpoint), recovered at the next start. */
  async stop(mode: StopMode = 'fast'): Promise<void> {
    if (!this.running) return;
    const [file, args] = command('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '60', 'stop']);
    await run(file, args);
    this.running = false;
  }

  /** Stops the server (as a crash) if it runs, and removes the cluster. */
  async destroy(): Promise<void> {
    process.off('exit', this.onExit);
    if (this.running) await this.stop('immediate').catch(() => this.killSync());
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = '';
  }

  /** The server's log, to explain a failure. */
  log(): string {
    const file = join(this.dir, 'server.log');
    return this.dir && existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  private async init(): Promise<void> {
    this.port = await freePort();
    this.dir = mkdtempSync(join(tmpdir(), 'driver-faults-pg-'));
    if (AS_ROOT) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      chownSync(this.dir, uid, gid);
    }
    const [file, args] = command('initdb', [
      '-D',
      this.dataDir,
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
      '--no-sync',
      '--no-instructions',
    ]);
    await run(file, args);
    // Should the test process die without its cleanup, do not leave a server behind.
    process.once('exit', this.onExit);
  }

  private killSync(): void {
    if (!this.running || !this.dir) return;
    try {
      const [file, args] = command('pg_ctl', ['-D', this.dataDir, '-m', 'immediate', '-w', 'stop']);
      execFileSync(file, args, { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
    this.running = false;
  }
}
