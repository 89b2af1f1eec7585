/**
 * True when an error means "PostgreSQL cannot be reached or is going away",
 * as opposed to a query the database rejected. Such errors answer 503.
 */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH']);
// SQLSTATE classes 08 (connection exception) and 57P (operator intervention: shutdown).
const SQLSTATE_UNAVAILABLE = /^(08|57P0[1-3])/;
const MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'connect ECONNREFUSED',
  'Connection is closed',
  'the database system is shutting down',
  'the database system is starting up',
  'PGlite is closed',
  // node-postgres' client-side query_timeout: the server did not answer in time.
  'Query read timeout',
];

/**
 * TypeORM releases a transaction's query runner when its connection dies
 * between two statements (PostgreSQL stopping, say); the next statement then
 * throws one of these rather than a connection error.
 */
const RELEASED_RUNNER = new Set(['QueryRunnerAlreadyReleasedError', 'QueryRunnerProviderAlreadyReleasedError']);

type ErrorLike = { code?: unknown; message?: unknown; name?: unknown; driverError?: unknown; cause?: unknown };

export function isDatabaseUnavailable(error: unknown): boolean {
  // Duck-typed rather than `instanceof Error`: socket errors may come from another realm.
  for (let e = error as ErrorLike | undefined, depth = 0; typeof e === 'object' && e !== null && depth < 4; depth++) {
    const { code, message, name } = e;
    if (typeof name === 'string' && RELEASED_RUNNER.has(name)) return true;
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || SQLSTATE_UNAVAILABLE.test(code))) return true;
    if (typeof message === 'string' && MESSAGES.some((m) => message.includes(m))) return true;
    e = (e.driverError ?? e.cause) as ErrorLike | undefined;
  }
  return false;
}
