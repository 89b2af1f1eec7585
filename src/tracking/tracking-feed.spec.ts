import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '../config/load-config.js';
import { Lifecycle } from '../health/lifecycle.js';
import type { MetricsService } from '../metrics/metrics.service.js';
import { TrackingFeed } from './tracking-feed.js';
import type { TrackedChange, TrackedDelivery, TrackingRepository } from './tracking.repository.js';
import type { TrackingService } from './tracking.service.js';

const DELIVERY = 'd1';
const view = (lastSeq: number): TrackedDelivery => ({
  deliveryId: DELIVERY,
  status: 'ASSIGNED',
  pickupLat: 52.52,
  pickupLon: 13.405,
  dropoffLat: null,
  dropoffLon: null,
  driverName: 'Ada',
  vehicleType: null,
  lastLat: null,
  lastLon: null,
  lastLocationAt: null,
  updatedAt: new Date(),
  endedAt: null,
  lastSeq,
});
const change = (seq: number): TrackedChange => ({ deliveryId: DELIVERY, seq, status: 'ASSIGNED', previousStatus: null, at: new Date(0) });

/** A sink that keeps the ids of the status events written to it. */
function sink() {
  const ids: number[] = [];
  return {
    ids,
    write(chunk: string) {
      for (const [, id] of chunk.matchAll(/^id: (\d+)\nevent: status$/gm)) ids.push(Number(id));
      return true;
    },
    end: () => undefined,
    once: () => undefined,
  };
}

/**
 * The feed's reads, against a repository whose reads the test lets through one
 * at a time: a stream that opens while a read of changes is under way must
 * not be sent that read's changes (they start after another stream's cursor),
 * but get all of its own at the next read.
 */
describe('TrackingFeed', () => {
  it('a stream that opens while changes are being read gets every change of its own, at the next read', async () => {
    let lastSeq = 10;
    let gate: (() => void) | undefined;
    const reads: Array<Map<string, number>> = [];
    const repository = {
      views: () => Promise.resolve([view(lastSeq)]),
      changesAfter: async (after: Map<string, number>) => {
        reads.push(new Map(after));
        await new Promise<void>((resolve) => (gate = resolve));
        gate = undefined;
        const from = after.get(DELIVERY)!;
        return Array.from({ length: lastSeq - from }, (_, i) => change(from + i + 1));
      },
    } as unknown as TrackingRepository;
    const tracking = { etaSeconds: () => Promise.resolve([null]), positionOf: () => null } as unknown as TrackingService;
    const metrics = { setOpenStreamsSource: () => undefined, trackingEventSent: () => undefined } as unknown as MetricsService;
    const feed = new TrackingFeed(loadConfig({}), repository, tracking, metrics, new Lifecycle());
    const until = async (what: () => boolean) => {
      while (!what()) await new Promise((resolve) => setImmediate(resolve));
    };

    // A follows from seq 10; a change (11) is read for it.
    const a = sink();
    feed.add(view(10), 'h1', 10, a);
    lastSeq = 11;
    feed.wake();
    await until(() => gate !== undefined);
    // B opens from the start while that read is under way.
    const b = sink();
    feed.add(view(11), 'h2', 0, b);
    gate!();
    await until(() => a.ids.length > 0 && gate !== undefined);
    expect(a.ids).toEqual([11]);
    expect(b.ids).toEqual([]);
    // The next read is B's, from 0.
    expect(reads.at(-1)).toEqual(new Map([[DELIVERY, 0]]));
    gate!();
    await until(() => b.ids.length === 11);
    expect(b.ids).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(a.ids).toEqual([11]);
    await feed.beforeApplicationShutdown();
    expect(feed.openStreams).toBe(0);
  });
});
