// @ts-check
/**
 * Measurements: HTTP load through the load-generator process (bench/load.mjs,
 * autocannon), and closed loops of direct PostgreSQL work, both reported in
 * the same shape.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './service.mjs';
import { LatencyHistogram } from './stats.mjs';

/**
 * @typedef {object} Measurement
 * @property {number} count requests (or tasks) completed
 * @property {number} seconds
 * @property {number} rps
 * @property {number} p50 ms
 * @property {number} p99 ms
 * @property {number} errors no answer (connection error, timeout) or a task that threw
 * @property {number} non2xx
 * @property {Record<string, number>} [statusCodes]
 * @property {number} [noDriver] `NO_DRIVER_AVAILABLE` answers (order streams)
 */

const run = promisify(execFile);
let specNumber = 0;

/**
 * Runs the load generator in a separate Node process and returns its measurement.
 * @param {import('./requests.mjs').LoadSpec} spec
 * @param {string} workDir where the spec file is written
 * @returns {Promise<Measurement>}
 */
export async function runLoad(spec, workDir) {
  const file = join(workDir, `load-spec-${++specNumber}.json`);
  writeFileSync(file, JSON.stringify(spec));
  const { stdout } = await run(process.execPath, [join(ROOT, 'bench/load.mjs'), file], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}');
}

/**
 * Runs `task` in `concurrency` parallel loops for `seconds`; a task may
 * return an outcome label, which is counted.
 * @param {{ concurrency: number, seconds: number, task: () => Promise<string | void> }} options
 * @returns {Promise<Measurement & { outcomes: Record<string, number> }>}
 */
export function closedLoop({ concurrency, seconds, task }) {
  const deadline = performance.now() + seconds * 1000;
  return loops(concurrency, () => performance.now() < deadline, task);
}

/**
 * Runs `count` tasks over `concurrency` parallel loops, as fast as they go;
 * a task may return an outcome label, which is counted. `seconds` is the
 * time all of them took.
 * @param {{ concurrency: number, count: number, task: () => Promise<string | void> }} options
 * @returns {Promise<Measurement & { outcomes: Record<string, number> }>}
 */
export function countedLoop({ concurrency, count, task }) {
  let started = 0;
  return loops(concurrency, () => started++ < count, task);
}

/**
 * `concurrency` loops that each run `task` while `more()` says so.
 * @param {number} concurrency
 * @param {() => boolean} more
 * @param {() => Promise<string | void>} task
 * @returns {Promise<Measurement & { outcomes: Record<string, number> }>}
 */
async function loops(concurrency, more, task) {
  const histogram = new LatencyHistogram();
  /** @type {Record<string, number>} */
  const outcomes = {};
  let errors = 0;
  const started = performance.now();
  const loop = async () => {
    while (more()) {
      const t0 = performance.now();
      try {
        const outcome = (await task()) ?? 'ok';
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
        histogram.record(performance.now() - t0);
      } catch (error) {
        errors += 1;
        if (errors <= 3) console.warn(`  task failed: ${/** @type {Error} */ (error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const elapsed = (performance.now() - started) / 1000;
  return {
    count: histogram.count,
    seconds: elapsed,
    rps: histogram.count / elapsed,
    p50: histogram.percentile(50),
    p99: histogram.percentile(99),
    errors,
    non2xx: 0,
    outcomes,
  };
}
