import { ChildProcess, execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { keyPrefixFor } from '../../src/redis/key-prefix.js';
import { eventually } from './eventually.js';
import { spawnRedisServer } from './private-redis.js';

/** A cluster node listens on its port and, for the cluster bus, on its port + 10000: both must be free. */
const BUS_OFFSET = 10_000;

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port below the ephemeral range whose bus port is free too. */
async function freeNodePort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if (taken.has(port) || !(await portIsFree(port)) || !(await portIsFree(port + BUS_OFFSET))) continue;
    taken.add(port);
    return port;
  }
}

/**
 * A throw-away Redis Cluster of the test's own: `masters` redis-server
 * processes with `--cluster-enabled yes` on free ports, each with `replicas`
 * replicas, joined by `redis-cli --cluster create`; the masters share the
 * slots evenly. The test may stop and start a node.
 */
export class PrivateRedisCluster {
  readonly ports: number[] = [];
  private readonly processes = new Map<number, ChildProcess>();
  private dir = '';

  constructor(
    private readonly masters = 3,
    private readonly replicas = 0,
  ) {}

  async start(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'redis-cluster-'));
    const taken = new Set<number>();
    for (let i = 0; i < this.masters * (1 + this.replicas); i += 1) this.ports.push(await freeNodePort(taken));
    await Promise.all(this.ports.map((port) => this.startNode(port)));
    await promisify(execFile)('redis-cli', [
      ...['--cluster', 'create', ...this.ports.map((port) => `127.0.0.1:${port}`)],
      ...['--cluster-replicas', String(this.replicas), '--cluster-yes'],
    ]);
    await this.waitUntilOk();
  }

  /**
   * Resolves once a replica of the killed master on `port` has taken over
   * the slot of `key` and the cluster is whole again.
   */
  async failedOver(port: number, key: string): Promise<number> {
    const owner = await eventually(async () => ((await this.portOf(key)) !== port ? this.portOf(key) : false), {
      timeoutMs: 30_000,
      what: `a replica of ${port} to take over`,
    });
    await this.waitUntilOk();
    return owner;
  }

  /** Stops one node as a crash would (its keys are gone: the nodes keep no data on disk). */
  async kill(port: number): Promise<void> {
    const child = this.processes.get(port);
    if (!child || child.exitCode !== null) return;
    child.kill('SIGKILL');
    await once(child, 'exit');
    this.processes.delete(port);
  }

  /** Starts a killed node again, with its slots (its nodes.conf), empty; resolves once the cluster is whole. */
  async restart(port: number): Promise<void> {
    await this.startNode(port);
    await this.waitUntilOk();
  }

  async stop(): Promise<void> {
    await Promise.all(this.ports.map((port) => this.kill(port)));
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }

  /** REDIS_CLUSTER_NODES for the service. */
  get nodesVariable(): string {
    return this.ports.map((port) => `127.0.0.1:${port}`).join(',');
  }

  /** A client of the cluster that sees the service's keys as it names them (`drivers:geo`), for REDIS_KEY_PREFIX `prefix`. */
  client(prefix = ''): Cluster {
    return new Cluster(
      this.ports.map((port) => ({ host: '127.0.0.1', port })),
      // A command that cannot be answered fails the test within seconds rather than holding it to its timeout.
      { keyPrefix: keyPrefixFor('cluster', prefix), redisOptions: { maxRetriesPerRequest: 1, commandTimeout: 5_000 } },
    );
  }

  /** The port of the master that holds `key` (as stored, prefix included). */
  async portOf(key: string): Promise<number> {
    const node = new Redis({ host: '127.0.0.1', port: this.runningPorts[0], maxRetriesPerRequest: 1 });
    try {
      const slot = Number(await node.call('CLUSTER', 'KEYSLOT', key));
      const ranges = (await node.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
      const owner = ranges.find(([from, to]) => slot >= from && slot <= to);
      if (!owner) throw new Error(`no master holds slot ${slot}`);
      return owner[2][1];
    } finally {
      node.disconnect();
    }
  }

  /**
   * Moves every slot of the master on `fromPort` to the master on `toPort`
   * with `redis-cli --cluster reshard`, keys and all, while clients go on.
   */
  async reshardAll(fromPort: number, toPort: number): Promise<void> {
    const [from, to] = await Promise.all([fromPort, toPort].map((port) => this.nodeId(port)));
    const slots = await this.slotCount(fromPort);
    await promisify(execFile)('redis-cli', [
      ...['--cluster', 'reshard', `127.0.0.1:${fromPort}`],
      ...['--cluster-from', from, '--cluster-to', to, '--cluster-slots', String(slots), '--cluster-yes'],
    ]);
    await this.waitUntilOk();
  }

  private async nodeId(port: number): Promise<string> {
    const node = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
    try {
      return String(await node.call('CLUSTER', 'MYID'));
    } finally {
      node.disconnect();
    }
  }

  private async slotCount(port: number): Promise<number> {
    const node = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
    try {
      const ranges = (await node.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
      return ranges.filter((range) => range[2][1] === port).reduce((total, [from, to]) => total + to - from + 1, 0);
    } finally {
      node.disconnect();
    }
  }

  /** Empties every master. */
  async flushAll(client: Cluster): Promise<void> {
    await Promise.all(client.nodes('master').map((node) => node.flushall()));
  }

  private async startNode(port: number): Promise<void> {
    const child = await spawnRedisServer([
      ...['--port', String(port)],
      ...['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--dir', this.dir],
      // A node seen down for a second is marked failed, so a test of a lost shard need not wait long.
      ...['--cluster-node-timeout', '1000'],
    ]);
    this.processes.set(port, child);
  }

  private get runningPorts(): number[] {
    return this.ports.filter((port) => this.processes.has(port));
  }

  /** Every running node reports cluster_state:ok and knows every node; every replica is in sync with its master. */
  private async waitUntilOk(): Promise<void> {
    const nodeIsOk = async (port: number) => {
      const node = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await node.connect();
        const info = String(await node.call('CLUSTER', 'INFO'));
        // A replica that has not synced with its master yet could not take over from it.
        const replication = await node.info('replication');
        const synced = !/role:slave/.test(replication) || /master_link_status:up/.test(replication);
        return synced && /cluster_state:ok/.test(info) && new RegExp(`cluster_known_nodes:${this.ports.length}\\b`).test(info);
      } finally {
        node.disconnect();
      }
    };
    await eventually(async () => (await Promise.all(this.runningPorts.map(nodeIsOk))).every(Boolean), {
      timeoutMs: 30_000,
      what: `the Redis Cluster on ${this.nodesVariable} to be ready`,
    });
  }
}
