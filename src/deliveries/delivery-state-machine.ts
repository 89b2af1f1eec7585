import type { DeliveryStatus } from './delivery.entity.js';

/**
 * PENDING → OFFERED → ASSIGNED → PICKED_UP → DELIVERED (auto mode: PENDING →
 * ASSIGNED; a ready order with a driver in reach starts OFFERED or ASSIGNED).
 * OFFERED | ASSIGNED → PENDING (decline, offer timeout, reassignment, driver
 * lost); PENDING → EXPIRED; ASSIGNED | PICKED_UP → FAILED; PENDING | OFFERED |
 * ASSIGNED | PICKED_UP → CANCELLED. DELIVERED, FAILED, CANCELLED and EXPIRED
 * are final. docs/delivery-states.mmd draws it.
 */
export const NEXT_STATUSES: Record<DeliveryStatus, readonly DeliveryStatus[]> = {
  PENDING: ['OFFERED', 'ASSIGNED', 'EXPIRED', 'CANCELLED'],
  OFFERED: ['ASSIGNED', 'PENDING', 'CANCELLED'],
  ASSIGNED: ['PICKED_UP', 'FAILED', 'CANCELLED', 'PENDING'],
  PICKED_UP: ['DELIVERED', 'FAILED', 'CANCELLED'],
  DELIVERED: [],
  FAILED: [],
  CANCELLED: [],
  EXPIRED: [],
};

/** The order's one delivery in progress is in one of these (at most one per order, the unique index says). */
export const LIVE_STATUSES: readonly DeliveryStatus[] = ['PENDING', 'OFFERED', 'ASSIGNED', 'PICKED_UP'];

export function isFinal(status: DeliveryStatus): boolean {
  return NEXT_STATUSES[status].length === 0;
}

/** The statuses a delivery may be in to move to `to`. */
export function statusesLeadingTo(to: DeliveryStatus): DeliveryStatus[] {
  return (Object.keys(NEXT_STATUSES) as DeliveryStatus[]).filter((from) => NEXT_STATUSES[from].includes(to));
}

/** Event (and webhook) type of reaching a status. */
export const EVENT_TYPES = {
  PENDING: 'delivery.pending',
  OFFERED: 'delivery.offered',
  ASSIGNED: 'delivery.assigned',
  PICKED_UP: 'delivery.picked_up',
  DELIVERED: 'delivery.delivered',
  FAILED: 'delivery.failed',
  CANCELLED: 'delivery.cancelled',
  EXPIRED: 'delivery.expired',
} as const satisfies Record<DeliveryStatus, string>;

/** The column recording when a status was reached. */
export const REACHED_AT_COLUMNS: Record<DeliveryStatus, string> = {
  PENDING: 'pending_at',
  OFFERED: 'offered_at',
  ASSIGNED: 'assigned_at',
  PICKED_UP: 'picked_up_at',
  DELIVERED: 'delivered_at',
  FAILED: 'failed_at',
  CANCELLED: 'cancelled_at',
  EXPIRED: 'expired_at',
};
