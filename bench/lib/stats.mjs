// @ts-check
/** Medians, percentiles and a bounded latency histogram. */

/** @param {number[]} values */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * The `p`th percentile (0..100) of unsorted values, nearest rank.
 * @param {number[]} values
 * @param {number} p
 */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const MIN_MS = 0.01;
const GROWTH = Math.log(1.02);

/**
 * Latencies in log-spaced buckets 2 % wide, from 0.01 ms up: constant memory
 * however long it runs (a soak test), percentiles within 2 %.
 */
export class LatencyHistogram {
  constructor() {
    /** @type {number[]} */
    this.buckets = [];
    this.count = 0;
  }

  /** @param {number} ms */
  record(ms) {
    const i = ms <= MIN_MS ? 0 : Math.ceil(Math.log(ms / MIN_MS) / GROWTH);
    this.buckets[i] = (this.buckets[i] ?? 0) + 1;
    this.count += 1;
  }

  /** @param {number} p 0..100 @returns {number} milliseconds (the bucket's upper bound) */
  percentile(p) {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i] ?? 0;
      if (seen >= rank) return MIN_MS * Math.exp(i * GROWTH);
    }
    return NaN;
  }
}

/** @param {number} x */
export const fixed = (x, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
