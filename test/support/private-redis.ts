import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { freePort } from './free-port.js';

/**
 * Starts a redis-server (on 127.0.0.1, no persistence) with `args`; resolves
 * once it accepts connections.
 */
export async function spawnRedisServer(args: string[]): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // redis-server prints this line once it accepts connections.
  await new Promise<void>((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)));
  });
  return child;
}

/** A throw-away redis-server of this test's own, which the test may stop and start. */
export class PrivateRedis {
  private process?: ChildProcess;
  port = 0;

  async start(): Promise<void> {
    this.port ||= await freePort();
    this.process = await spawnRedisServer(['--port', String(this.port)]);
  }

  async stop(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    child.kill('SIGKILL');
    await once(child, 'exit');
    this.process = undefined;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
}
