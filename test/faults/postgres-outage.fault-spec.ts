import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eventually } from '../support/eventually.js';
import type { StopMode } from '../support/private-postgres.js';
import { FaultHarness, isOperation } from './support/harness.js';
import type { RequestRecord } from './support/load-stream.js';

const cleanUnavailable = (r: RequestRecord) => r.status === 200 || (r.status === 503 && r.code === 'DATABASE_UNAVAILABLE');

/**
 * Scenario b. PostgreSQL is stopped under load, twice: `pg_ctl stop -m fast`
 * (sessions terminated) and `-m immediate` (a crash, recovered at the next
 * start), each time for as long as it takes the load to get 120 answers to
 * orders and moves, stopped at a moment when several of them are in flight.
 * Meanwhile requests answer 503 DATABASE_UNAVAILABLE cleanly, never 500; when
 * PostgreSQL is back, the same process serves again without a restart, and
 * the books show nothing half-written. The second test holds the "never 500"
 * rule apart, so that a failure there does not hide the rest.
 */
describe('fault: PostgreSQL stopped under load, then started again', () => {
  const h = new FaultHarness({ services: 1, drivers: 20 });

  beforeAll(() => h.setUp(), 90_000);
  afterAll(() => h.tearDown(), 90_000);

  it('answers 503 DATABASE_UNAVAILABLE while it is down, recovers by itself, and leaves the books whole', async () => {
    // Denser than the default stream: more multi-statement transactions are open at the moment PostgreSQL stops.
    const stream = h.startStream({ orderPrefix: 'SO-PG', orderWorkers: 4, orderGapMs: 20, stepMs: [20, 150] });
    h.phase('warm-up');
    await stream.answered(stream.mark(), 30, isOperation);
    const firstProcess = h.services[0].child.pid;
    const health: Array<[string, number]> = [];

    for (const mode of ['fast', 'immediate'] as StopMode[]) {
      // Stopped at a moment when several orders and moves are in flight, their transactions open.
      await eventually(() => stream.inFlightCount >= 4, { what: '4 orders and moves in flight', timeoutMs: 10_000, everyMs: 5 });
      h.phase(`pg stop -m ${mode}`);
      const down = stream.mark();
      await h.postgres.stop(mode);
      health.push([`down (${mode})`, (await fetch(`${h.bases[0]}/health`)).status]);
      await stream.answered(down, 120, isOperation);

      h.phase(`pg started (${mode})`);
      await h.postgres.start();
      // Recovered: the next 20 orders and moves answered after the restart are all 200.
      await eventually(
        () => {
          const ops = h.recordsOf(`pg started (${mode})`).filter(isOperation);
          const tail = ops.slice(-20);
          return tail.length === 20 && tail.every((r) => r.status === 200);
        },
        { what: `20 orders and moves in a row answered 200 after pg_ctl start (${mode})`, timeoutMs: 30_000, everyMs: 100 },
      );
      health.push([`back (${mode})`, (await fetch(`${h.bases[0]}/health`)).status]);
    }

    h.phase('steady');
    await stream.answered(stream.mark(), 30, isOperation);
    const books = await h.settle();
    h.print(`b) PostgreSQL stopped (fast, then immediate) and started; /health ${health.map(([w, s]) => `${w} ${s}`).join(', ')}`, books);

    for (const mode of ['fast', 'immediate']) {
      expect(h.recordsOf(`pg stop -m ${mode}`).filter((r) => r.status === 503).length).toBeGreaterThan(0);
    }
    // Up again: the same process (no restart) answers everything 200.
    expect(h.services[0].child.pid).toBe(firstProcess);
    expect(h.services[0].child.exitCode).toBeNull();
    expect(h.recordsOf('steady').filter((r) => r.status !== 200)).toEqual([]);
    expect(health).toEqual([
      ['down (fast)', 503],
      ['back (fast)', 200],
      ['down (immediate)', 503],
      ['back (immediate)', 200],
    ]);
    expect(stream.anomalies.filter((a) => !/answered 500/.test(a))).toEqual([]);
    expect(books.problems).toEqual([]);
    expect(stream.records.filter((r) => typeof r.status !== 'number')).toEqual([]);
  });

  it('never answers 500 while PostgreSQL goes away: only 200 or 503 DATABASE_UNAVAILABLE', () => {
    const stream = h.stream!;
    expect(stream.records.length).toBeGreaterThan(0);
    const unclean = stream.records.filter((r) => !cleanUnavailable(r));
    if (unclean.length > 0)
      console.error(
        unclean.slice(0, 10),
        h.troubleInLogs(10).map((line) => line.slice(0, 600)),
      );
    expect(unclean).toEqual([]);
    expect(stream.anomalies).toEqual([]);
  });
});
