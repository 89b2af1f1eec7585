import net from 'node:net';

/**
 * A TCP proxy in front of a real server, so a test can make that server
 * unreachable (`cut`), unresponsive (`hang`), or bring it back (`restore`)
 * without stopping the shared server other test files use.
 */
export class TcpProxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private mode: 'forward' | 'hang' = 'forward';
  port = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<number> {
    await this.listen(0);
    return this.port;
  }

  /** Refuse new connections and drop the open ones, as a stopped server would. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Accept connections but never answer, as a hung server would. */
  hang(): void {
    this.mode = 'hang';
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  async restore(): Promise<void> {
    this.mode = 'forward';
    if (!this.server) await this.listen(this.port);
  }

  async stop(): Promise<void> {
    await this.cut();
  }

  private listen(port: number): Promise<void> {
    const server = net.createServer((client) => {
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      client.on('error', () => client.destroy());
      if (this.mode === 'hang') return;
      const upstream = net.connect({ host: '127.0.0.1', port: this.targetPort });
      this.sockets.add(upstream);
      upstream.on('close', () => (this.sockets.delete(upstream), client.destroy()));
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      client.pipe(upstream).pipe(client);
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        this.port = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  }
}
