// @ts-check
/** Throw-away Redis servers of the bench's own: a single redis-server, or a Redis Cluster of several masters. */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';

/** @param {number} port @returns {Promise<boolean>} */
function portIsFree(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A free TCP port on 127.0.0.1. @returns {Promise<number>} */
export async function freePort() {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = /** @type {net.AddressInfo} */ (server.address());
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * A redis-server without persistence, ready to accept connections.
 * @param {number} port
 * @param {string[]} [extraArgs]
 */
export async function startRedisServer(port, extraArgs = []) {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  await new Promise((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (/** @type {Buffer} */ chunk) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) resolve(undefined);
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)));
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await once(child, 'exit');
    },
  };
}

/**
 * A Redis Cluster of `masters` nodes (no replicas) on ports below the
 * ephemeral range whose cluster-bus ports (+10000) are free too, joined by
 * `redis-cli --cluster create`; resolves once every node reports the cluster ok.
 * @param {number} masters
 */
export async function startRedisCluster(masters) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-cluster-'));
  /** @type {number[]} */
  const ports = [];
  while (ports.length < masters) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if (!ports.includes(port) && (await portIsFree(port)) && (await portIsFree(port + 10_000))) ports.push(port);
  }
  const nodes = await Promise.all(
    ports.map((port) => startRedisServer(port, ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--dir', dir])),
  );
  await promisify(execFile)('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-yes']);
  for (const port of ports) {
    const node = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
    while (!/cluster_state:ok/.test(String(await node.call('CLUSTER', 'INFO')))) await new Promise((resolve) => setTimeout(resolve, 100));
    node.disconnect();
  }
  return {
    /** REDIS_CLUSTER_NODES for the service. */
    nodes: ports.map((port) => `127.0.0.1:${port}`).join(','),
    /** A client that names keys as the service does, with `keyPrefix` (the service's, hash tag included). @param {string} keyPrefix */
    client: (keyPrefix) =>
      new Cluster(
        ports.map((port) => ({ host: '127.0.0.1', port })),
        { keyPrefix, redisOptions: { maxRetriesPerRequest: 1 } },
      ),
    async stop() {
      await Promise.all(nodes.map((node) => node.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
