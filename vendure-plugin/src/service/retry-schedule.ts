import { SendRetryOptions } from '../types';

export type RetrySchedule = Required<SendRetryOptions>;

export function retrySchedule(options: SendRetryOptions = {}): RetrySchedule {
    return {
        initialDelayMs: options.initialDelayMs ?? 30_000,
        maxDelayMs: options.maxDelayMs ?? 15 * 60_000,
        maxAttempts: options.maxAttempts ?? 20,
        pollIntervalMs: options.pollIntervalMs ?? 5_000,
    };
}

/**
 * The wait after the `sends`-th send failed: doubling from `initialDelayMs`,
 * at most `maxDelayMs`, with up to 10 % added at random so that many orders
 * refused together are not all sent again at the same instant.
 */
export function retryDelayMs(schedule: RetrySchedule, sends: number, random = Math.random): number {
    const base = Math.min(schedule.initialDelayMs * 2 ** Math.max(0, sends - 1), schedule.maxDelayMs);
    return Math.round(base * (1 + 0.1 * random()));
}
