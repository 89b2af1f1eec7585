import { describe, expect, it } from '@jest/globals';
import { Batcher } from './batcher.js';

/** A write that holds until released, recording what it was given. */
function heldWrites() {
  const batches: number[][] = [];
  const releases: (() => void)[] = [];
  const failures: ((error: Error) => void)[] = [];
  const write = (items: number[]) =>
    new Promise<void>((resolve, reject) => {
      batches.push(items);
      releases.push(resolve);
      failures.push(reject);
    });
  return { batches, releases, failures, write };
}

const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('Batcher', () => {
  it('writes what arrives in one event-loop turn together at its end, and what arrives during a write together after it', async () => {
    const held = heldWrites();
    const batcher = new Batcher(held.write);
    const first = [batcher.add(1), batcher.add(2)];
    expect(held.batches).toEqual([]);
    await settled();
    expect(held.batches).toEqual([[1, 2]]);
    const rest = [batcher.add(3), batcher.add(4), batcher.add(5)];
    await settled();
    expect(held.batches).toEqual([[1, 2]]);

    held.releases[0]();
    await Promise.all(first);
    await settled();
    expect(held.batches).toEqual([
      [1, 2],
      [3, 4, 5],
    ]);
    held.releases[1]();
    await Promise.all(rest);

    // Idle again: the next item goes alone, at the end of its turn.
    const last = batcher.add(6);
    await settled();
    expect(held.batches).toEqual([[1, 2], [3, 4, 5], [6]]);
    held.releases[2]();
    await last;
  });

  it('caps a batch at maxBatch items', async () => {
    const held = heldWrites();
    const batcher = new Batcher(held.write, { maxBatch: 2 });
    const all = [1, 2, 3, 4, 5].map((n) => batcher.add(n));
    for (let i = 0; i < 3; i++) {
      await settled();
      held.releases[i]();
    }
    await Promise.all(all);
    expect(held.batches).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('fails only the items of the batch that failed, and goes on with the next', async () => {
    const held = heldWrites();
    const batcher = new Batcher(held.write);
    const first = batcher.add(1);
    await settled();
    const second = batcher.add(2);
    const third = batcher.add(3);
    held.failures[0](new Error('connection lost'));
    await expect(first).rejects.toThrow('connection lost');
    await settled();
    expect(held.batches).toEqual([[1], [2, 3]]);
    held.releases[1]();
    await expect(Promise.all([second, third])).resolves.toEqual([undefined, undefined]);
  });

  it("hands each caller its own result, in the batch's order", async () => {
    const calls: string[][] = [];
    const lookups = new Batcher<string, number>((keys) => {
      calls.push(keys);
      return Promise.resolve(keys.map((key) => key.length));
    });
    const answers = await Promise.all(['a', 'bbb', 'cc', 'dddd'].map((key) => lookups.add(key)));
    expect(answers).toEqual([1, 3, 2, 4]);
    expect(calls).toEqual([['a', 'bbb', 'cc', 'dddd']]);
  });

  it('runs the items of a failed batch again one at a time, so a refused item fails alone', async () => {
    const calls: number[][] = [];
    const writes = new Batcher<number>((items) => {
      calls.push(items);
      return items.includes(3) ? Promise.reject(new Error('refused: 3')) : Promise.resolve();
    });
    const outcomes = await Promise.allSettled([1, 2, 3, 4].map((n) => writes.add(n)));
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(calls).toEqual([[1, 2, 3, 4], [1], [2], [3], [4]]);
  });

  it('with retryAlone false fails every item of a failed run with its error, running none again', async () => {
    const calls: number[][] = [];
    const pings = new Batcher<number>(
      (items) => {
        calls.push(items);
        return Promise.reject(new Error('Command timed out'));
      },
      { retryAlone: false },
    );
    const outcomes = await Promise.allSettled([1, 2, 3].map((n) => pings.add(n)));
    expect(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as Error).message : 'fulfilled'))).toEqual([
      'Command timed out',
      'Command timed out',
      'Command timed out',
    ]);
    expect(calls).toEqual([[1, 2, 3]]);
  });

  it('with maxRunning above one sends each turn at its end, without waiting for the runs still going', async () => {
    const held = heldWrites();
    const batcher = new Batcher(held.write, { maxRunning: Infinity });
    const first = [batcher.add(1), batcher.add(2)];
    await settled();
    const second = [batcher.add(3)];
    await settled();
    expect(held.batches).toEqual([[1, 2], [3]]);
    held.releases[1]();
    await Promise.all(second);
    held.releases[0]();
    await Promise.all(first);
  });
});
