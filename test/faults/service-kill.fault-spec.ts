import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { waitForGeoToMatch } from './support/books.js';
import { FaultHarness, HEARTBEAT_TTL_SECONDS, isOperation } from './support/harness.js';

/**
 * Scenario d. Two service processes share PostgreSQL and Redis (as PM2 cluster
 * workers); each in turn is SIGKILLed mid-load (requests, transactions and
 * webhook sends in flight) and started again on its port. Clients see refused
 * or cut connections and retry on the other process. Afterwards nothing is
 * stuck: no BUSY driver without its live delivery, no live delivery whose
 * driver is not BUSY, every change's webhook delivered (a send the kill cut
 * off comes again once its 30 s lease runs out), and drivers:geo back to
 * PostgreSQL's choosable drivers (the periodic reconciliation, every 5 s
 * here, repairs a driver freed just before the kill and never copied).
 */
describe('fault: service processes SIGKILLed mid-load and restarted', () => {
  const h = new FaultHarness({ services: 2, drivers: 20 });

  beforeAll(async () => {
    await h.setUp();
    // The receiver takes a moment per message, so that sends are in flight when a process dies.
    h.receiver.delayMs = 40;
  }, 90_000);
  afterAll(() => h.tearDown(), 90_000);

  it('leaves no delivery stuck and no webhook lost', async () => {
    const stream = h.startStream({ orderPrefix: 'SO-KILL' });
    h.phase('warm-up');
    await stream.answered(stream.mark(), 30, isOperation);
    const killed: number[] = [];

    for (const slot of [0, 1]) {
      h.phase(`kill ${slot}`);
      const from = stream.mark();
      killed.push(h.services[slot].child.pid!);
      await h.killService(slot);
      expect(h.services[slot].child.signalCode).toBe('SIGKILL');
      // The other process carries the load meanwhile.
      await stream.answered(from, 40, isOperation);

      h.phase(`restart ${slot}`);
      await h.startService(slot);
      await stream.answered(stream.mark(), 40, (r) => isOperation(r) && r.target === slot && r.status === 200);
    }

    const books = await h.settle(75_000);
    const sets = await waitForGeoToMatch(h.sql, h.redis, HEARTBEAT_TTL_SECONDS, 20_000);
    h.print(
      `d) SIGKILL of each service process under load, then restart (pids ${killed.join(', ')}); geo ${sets.geo.length} = choosable ${sets.postgres.length}`,
      books,
    );

    // What clients saw: answers (200 only), or no answer from the dead process; never a 5xx.
    const answers = stream.records.filter((r) => typeof r.status === 'number');
    expect(answers.filter((r) => r.status !== 200)).toEqual([]);
    expect(stream.records.filter((r) => r.status === 'timeout')).toEqual([]);
    expect(stream.anomalies).toEqual([]);
    expect(h.receiver.overlaps).toEqual([]);
    expect(books.problems).toEqual([]);
    expect(books.messages).toBeGreaterThan(0);
  });
});
