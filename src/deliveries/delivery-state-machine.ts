import type { DeliveryStatus } from './delivery.entity.js';

/**
 * ASSIGNED → PICKED_UP → DELIVERED; ASSIGNED | PICKED_UP → FAILED | CANCELLED.
 * DELIVERED, FAILED and CANCELLED are final.
 */
export const NEXT_STATUSES: Record<DeliveryStatus, readonly DeliveryStatus[]> = {
  ASSIGNED: ['PICKED_UP', 'FAILED', 'CANCELLED'],
  PICKED_UP: ['DELIVERED', 'FAILED', 'CANCELLED'],
  DELIVERED: [],
  FAILED: [],
  CANCELLED: [],
};

export const LIVE_STATUSES: readonly DeliveryStatus[] = ['ASSIGNED', 'PICKED_UP'];

export function isFinal(status: DeliveryStatus): boolean {
  return NEXT_STATUSES[status].length === 0;
}

/** The statuses a delivery may be in to move to `to`. */
export function statusesLeadingTo(to: DeliveryStatus): DeliveryStatus[] {
  return (Object.keys(NEXT_STATUSES) as DeliveryStatus[]).filter((from) => NEXT_STATUSES[from].includes(to));
}

/** Event (and webhook) type of reaching a status. */
export const EVENT_TYPES = {
  ASSIGNED: 'delivery.assigned',
  PICKED_UP: 'delivery.picked_up',
  DELIVERED: 'delivery.delivered',
  FAILED: 'delivery.failed',
  CANCELLED: 'delivery.cancelled',
} as const satisfies Record<DeliveryStatus, string>;

/** The column recording when a status was reached. */
export const REACHED_AT_COLUMNS: Record<DeliveryStatus, string> = {
  ASSIGNED: 'assigned_at',
  PICKED_UP: 'picked_up_at',
  DELIVERED: 'delivered_at',
  FAILED: 'failed_at',
  CANCELLED: 'cancelled_at',
};
