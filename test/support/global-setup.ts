import net from 'node:net';

/** Integration suites need the local PostgreSQL and Redis; say so plainly when they are missing. */
function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

export default async function globalSetup(): Promise<void> {
  const missing = [];
  if (!(await reachable(5432))) missing.push('PostgreSQL on 127.0.0.1:5432');
  if (!(await reachable(6379))) missing.push('Redis on 127.0.0.1:6379');
  if (missing.length > 0) {
    throw new Error(`The integration tests need ${missing.join(' and ')} (see README, "Testing").`);
  }
}
