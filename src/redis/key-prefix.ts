/**
 * The prefix of every key the service writes, as the client applies it. On a
 * single Redis it is REDIS_KEY_PREFIX as given. On a Redis Cluster it carries
 * a hash tag (`{driver-service}:` by default, `{shop1}:` for REDIS_KEY_PREFIX=shop1:),
 * so that all of the service's keys hash to one slot: the scripts that keep a
 * driver's state read and write several keys at once, which a cluster allows
 * only within a slot. A prefix that already holds a hash tag is used as given.
 */
export function keyPrefixFor(kind: 'redis' | 'cluster', prefix: string): string {
  if (kind === 'redis' || /\{[^}]+\}/.test(prefix)) return prefix;
  return `{${prefix.replace(/:+$/, '') || 'driver-service'}}:`;
}
