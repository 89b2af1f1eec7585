// @ts-check
/** Counts and latencies of the simulator's requests: per interval (live lines) and for the whole run. */
import { LatencyHistogram, fixed } from './stats.mjs';

/** @typedef {{ count: number, histogram: LatencyHistogram, byStatus: Record<string, number> }} Tally */

const newTally = () => ({ count: 0, histogram: new LatencyHistogram(), byStatus: /** @type {Record<string, number>} */ ({}) });

/** @param {Tally} tally @param {number} status @param {number} ms */
function add(tally, status, ms) {
  tally.count += 1;
  tally.histogram.record(ms);
  tally.byStatus[status] = (tally.byStatus[status] ?? 0) + 1;
}

export class RequestRecorder {
  constructor() {
    this.total = newTally();
    this.interval = newTally();
    /** @type {Record<string, Tally>} */
    this.byKind = {};
    this.intervalStarted = performance.now();
    this.started = this.intervalStarted;
  }

  /**
   * @param {string} kind what the request did (ping, order, ...)
   * @param {{ status: number, ms: number }} answer status 0: no answer
   */
  record(kind, { status, ms }) {
    add(this.total, status, ms);
    add(this.interval, status, ms);
    add((this.byKind[kind] ??= newTally()), status, ms);
  }

  /** Requests answered 5xx so far. */
  get serverErrors() {
    return Object.entries(this.total.byStatus).reduce((n, [status, count]) => n + (Number(status) >= 500 ? count : 0), 0);
  }

  /** One line for the interval since the last call, then starts a new interval. */
  intervalLine() {
    const now = performance.now();
    const { count, histogram, byStatus } = this.interval;
    const line =
      `t=${fixed((now - this.started) / 1000, 0)}s ${fixed(count / ((now - this.intervalStarted) / 1000), 0)} req/s ` +
      `p50 ${fixed(histogram.percentile(50), 1)} ms p99 ${fixed(histogram.percentile(99), 1)} ms ${statusText(byStatus)}`;
    this.interval = newTally();
    this.intervalStarted = now;
    return line;
  }

  /** Totals for the summary. */
  summary() {
    const seconds = (performance.now() - this.started) / 1000;
    return {
      requests: this.total.count,
      requestsPerSecond: Math.round(this.total.count / seconds),
      p50Ms: round2(this.total.histogram.percentile(50)),
      p99Ms: round2(this.total.histogram.percentile(99)),
      byStatus: this.total.byStatus,
      serverErrors: this.serverErrors,
      byKind: Object.fromEntries(
        Object.entries(this.byKind).map(([kind, t]) => [
          kind,
          { requests: t.count, p50Ms: round2(t.histogram.percentile(50)), p99Ms: round2(t.histogram.percentile(99)), byStatus: t.byStatus },
        ]),
      ),
    };
  }
}

/** @param {Record<string, number>} byStatus */
export const statusText = (byStatus) =>
  Object.entries(byStatus)
    .map(([status, count]) => `${status === '0' ? 'no answer' : status}: ${count}`)
    .join(', ');

const round2 = (/** @type {number} */ x) => Math.round(x * 100) / 100;
