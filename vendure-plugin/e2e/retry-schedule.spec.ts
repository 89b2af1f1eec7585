import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { retryDelayMs, retrySchedule } from '../src/service/retry-schedule';

describe('retryDelayMs', () => {
    const schedule = retrySchedule({ initialDelayMs: 1_000, maxDelayMs: 10_000 });

    it('doubles from the initial delay after each send, up to the longest delay', () => {
        const noJitter = () => 0;
        assert.deepEqual([1, 2, 3, 4, 5, 6].map(sends => retryDelayMs(schedule, sends, noJitter)), [1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
    });

    it('adds at most 10 % at random, so that orders refused together are not resent together', () => {
        assert.equal(retryDelayMs(schedule, 2, () => 0.999), 2_200);
        assert.equal(retryDelayMs(schedule, 6, () => 0.5), 10_500);
    });

    it('has defaults a shop can live with: 30 s, doubling to 15 min, 20 sends, polled every 5 s', () => {
        assert.deepEqual(retrySchedule(), { initialDelayMs: 30_000, maxDelayMs: 900_000, maxAttempts: 20, pollIntervalMs: 5_000 });
    });
});
