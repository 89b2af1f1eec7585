import { describe, expect, it } from '@jest/globals';
import { DELIVERY_STATUSES } from './delivery.entity.js';
import { isFinal, LIVE_STATUSES, NEXT_STATUSES, statusesLeadingTo } from './delivery-state-machine.js';

describe('delivery state machine', () => {
  it('allows exactly the contract moves: v1 and dispatch', () => {
    const moves = DELIVERY_STATUSES.flatMap((from) => NEXT_STATUSES[from].map((to) => `${from}→${to}`));
    expect(moves.sort()).toEqual(
      [
        // v1
        'ASSIGNED→PICKED_UP',
        'ASSIGNED→FAILED',
        'ASSIGNED→CANCELLED',
        'PICKED_UP→DELIVERED',
        'PICKED_UP→FAILED',
        'PICKED_UP→CANCELLED',
        // dispatch: waiting, offers, back to waiting
        'PENDING→OFFERED',
        'PENDING→ASSIGNED',
        'PENDING→EXPIRED',
        'PENDING→CANCELLED',
        'OFFERED→ASSIGNED',
        'OFFERED→PENDING',
        'OFFERED→CANCELLED',
        'ASSIGNED→PENDING',
      ].sort(),
    );
  });

  it('treats DELIVERED, FAILED, CANCELLED and EXPIRED as final and every other status as live', () => {
    expect(DELIVERY_STATUSES.filter(isFinal)).toEqual(['DELIVERED', 'FAILED', 'CANCELLED', 'EXPIRED']);
    expect(DELIVERY_STATUSES.filter((s) => !isFinal(s))).toEqual([...LIVE_STATUSES]);
  });

  it('knows where each status can be reached from', () => {
    expect(statusesLeadingTo('DELIVERED')).toEqual(['PICKED_UP']);
    expect(statusesLeadingTo('FAILED')).toEqual(['ASSIGNED', 'PICKED_UP']);
    expect(statusesLeadingTo('PICKED_UP')).toEqual(['ASSIGNED']);
    expect(statusesLeadingTo('PENDING')).toEqual(['OFFERED', 'ASSIGNED']);
  });
});
