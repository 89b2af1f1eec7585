// @ts-check
/**
 * Double assignments in a list of deliveries (as GET /deliveries answers
 * them): two deliveries of one driver, or of one order, live at the same
 * time. A delivery is live from `assignedAt` until it reached a final status.
 */

/**
 * @typedef {{ id: string, driverId: string | null, sellerOrderId: string, assignedAt: string | null,
 *   deliveredAt: string | null, failedAt: string | null, cancelledAt: string | null }} DeliveryLike
 */

/** @param {DeliveryLike} d */
const span = (d) => ({
  id: d.id,
  start: Date.parse(d.assignedAt ?? ''),
  end: Date.parse(d.deliveredAt ?? d.failedAt ?? d.cancelledAt ?? '') || Infinity,
});

/**
 * Pairs of deliveries sharing `key` whose live periods overlap.
 * @param {DeliveryLike[]} deliveries
 * @param {(d: DeliveryLike) => string} key
 * @returns {Array<[string, string]>}
 */
function overlapping(deliveries, key) {
  /** @type {Map<string, Array<ReturnType<typeof span>>>} */
  const groups = new Map();
  for (const d of deliveries) {
    // A delivery that never had a driver (waiting, then expired or cancelled) was never live for one.
    if (d.driverId === null || d.assignedAt === null) continue;
    const group = groups.get(key(d)) ?? [];
    group.push(span(d));
    groups.set(key(d), group);
  }
  /** @type {Array<[string, string]>} */
  const pairs = [];
  for (const group of groups.values()) {
    group.sort((a, b) => a.start - b.start);
    let open = group[0];
    for (const next of group.slice(1)) {
      if (next.start < open.end) pairs.push([open.id, next.id]);
      if (next.end > open.end) open = next;
    }
  }
  return pairs;
}

/**
 * Drivers that held two deliveries or offers at once, from the audit trails:
 * a driver holds a delivery from its `delivery.offered` or
 * `delivery.assigned` event until the next `delivery.pending` or final event.
 * @param {Array<{ deliveryId: string, events: Array<{ type: string, at: string, data: Record<string, unknown> }> }>} trails
 * @returns {Array<[string, string]>} pairs of delivery ids
 */
export function findDoubleHolds(trails) {
  /** @type {Array<{ id: string, driverId: string, start: number, end: number }>} */
  const holds = [];
  for (const { deliveryId, events } of trails) {
    /** @type {{ driverId: string, start: number } | null} */
    let open = null;
    for (const event of events) {
      const at = Date.parse(event.at);
      const takes = event.type === 'delivery.offered' || (event.type === 'delivery.assigned' && typeof event.data.driverId === 'string');
      if (open && (takes ? event.data.driverId !== open.driverId : event.type !== 'delivery.picked_up')) {
        holds.push({ id: deliveryId, driverId: open.driverId, start: open.start, end: at });
        open = null;
      }
      if (takes && !open) open = { driverId: /** @type {string} */ (event.data.driverId), start: at };
    }
    if (open) holds.push({ id: deliveryId, driverId: open.driverId, start: open.start, end: Infinity });
  }
  return overlapping(
    holds.map((h) => ({
      id: h.id,
      driverId: h.driverId,
      sellerOrderId: '',
      assignedAt: new Date(h.start).toISOString(),
      deliveredAt: Number.isFinite(h.end) ? new Date(h.end).toISOString() : null,
      failedAt: null,
      cancelledAt: null,
    })),
    (d) => /** @type {string} */ (d.driverId),
  ).filter(([a, b]) => a !== b);
}

/** @param {DeliveryLike[]} deliveries */
export function findDoubleAssignments(deliveries) {
  return {
    drivers: overlapping(deliveries, (d) => d.driverId ?? ''),
    orders: overlapping(deliveries, (d) => d.sellerOrderId),
  };
}
