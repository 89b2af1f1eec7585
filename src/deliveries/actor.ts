import type { Principal } from '../auth/principal.js';

/** How the audit trail names who caused a change. */
export function actorOf(principal: Principal): string {
  return principal.kind === 'driver' ? `driver:${principal.driverId}` : principal.kind;
}
