// @ts-check
/**
 * Double assignments in a list of deliveries (as GET /deliveries answers
 * them): two deliveries of one driver, or of one order, live at the same
 * time. A delivery is live from `assignedAt` until it reached a final status.
 */

/**
 * @typedef {{ id: string, driverId: string, sellerOrderId: string, assignedAt: string,
 *   deliveredAt: string | null, failedAt: string | null, cancelledAt: string | null }} DeliveryLike
 */

/** @param {DeliveryLike} d */
const span = (d) => ({
  id: d.id,
  start: Date.parse(d.assignedAt),
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

/** @param {DeliveryLike[]} deliveries */
export function findDoubleAssignments(deliveries) {
  return {
    drivers: overlapping(deliveries, (d) => d.driverId),
    orders: overlapping(deliveries, (d) => d.sellerOrderId),
  };
}
