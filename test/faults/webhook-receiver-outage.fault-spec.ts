import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FaultHarness, isOperation } from './support/harness.js';

/**
 * Scenario c. Vendure's webhook endpoint fails (503 to everything), then
 * hangs (accepts the request, never answers), then recovers, while two
 * service processes relay the outbox under load. The relay's attempts time
 * out after 15 s (not configurable), so the hung attempts come back 15 s
 * after they began; retries are 1 s apart here (WEBHOOK_RETRY_SCHEDULE_SECONDS,
 * twenty attempts, so none is dead-lettered). Afterwards every state change
 * has been delivered, and processed once per webhook-id, in order per delivery.
 * The API is not affected at all: every request answers 200.
 */
describe('fault: the webhook receiver fails, then hangs, then recovers', () => {
  const h = new FaultHarness({ services: 2, drivers: 20 });
  let mode: 'ok' | 'fail' | 'hang' = 'ok';

  beforeAll(async () => {
    await h.setUp();
    h.receiver.answerWith(() => (mode === 'fail' ? 503 : mode === 'hang' ? 'hang' : 200));
  }, 90_000);
  afterAll(() => h.tearDown(), 90_000);

  it('loses no message and keeps the order of each delivery', async () => {
    const stream = h.startStream({ orderPrefix: 'SO-HOOK' });
    const answeredWith = (from: number, answer: number | 'hang') =>
      h.receiver.requests.slice(from).filter((r) => r.answered === answer).length;
    h.phase('warm-up');
    await stream.answered(stream.mark(), 30, isOperation);

    h.phase('receiver 503');
    mode = 'fail';
    const failFrom = h.receiver.requests.length;
    const opsFrom = stream.mark();
    // Held until 40 attempts have been refused and 40 orders and moves answered meanwhile.
    await h.receiver.waitFor(() => answeredWith(failFrom, 503) >= 40, '40 refused attempts', 30_000);
    await stream.answered(opsFrom, 40, isOperation);

    h.phase('receiver hangs');
    mode = 'hang';
    const hangFrom = h.receiver.requests.length;
    const hangOps = stream.mark();
    // Relays stuck on attempts that will never be answered (a relay's round waits for all of its
    // attempts, so one held attempt can stall it), held while the load gets 60 more answers.
    await h.receiver.waitFor(() => answeredWith(hangFrom, 'hang') >= 1, 'an attempt held open', 30_000);
    await stream.answered(hangOps, 60, isOperation);

    h.phase('receiver back');
    mode = 'ok';
    const hung = h.receiver.requests.slice(hangFrom).filter((r) => r.answered === 'hang');
    await stream.answered(stream.mark(), 30, isOperation);

    // The held attempts time out (15 s after they began) and are retried: wait for the outbox to drain.
    const books = await h.settle(60_000);
    h.print(`c) webhook receiver 503, then hanging, then back (${hung.length} attempts held open)`, books);

    // Each attempt that hung was sent again with the same webhook-id and accepted.
    for (const request of hung) {
      expect([request.id, h.receiver.attemptsOf(request.id).some((r) => r.answered === 200 && r.index > request.index)]).toEqual([
        request.id,
        true,
      ]);
    }
    expect(stream.records.filter((r) => r.status !== 200)).toEqual([]);
    expect(stream.anomalies).toEqual([]);
    expect(h.receiver.overlaps).toEqual([]);
    expect(books.problems).toEqual([]);
    expect(books.messages).toBeGreaterThan(0);
  });
});
