// @ts-check
/** Comparing the service with its baseline: alternating rounds, medians, and a table row with the ratio. */
import { cpuBetween, cpuSnapshot, GROUPS } from './cpu.mjs';
import { log } from './report.mjs';
import { fixed, median } from './stats.mjs';

/** @typedef {import('./bench-context.mjs').Bench} Bench */
/** @typedef {import('./load-runner.mjs').Measurement} Measurement */
/** @typedef {import('./report.mjs').Row} Row */
/**
 * CPU per operation of one side of a figure over its rounds: microseconds of each process group's CPU
 * per operation, the operation rate, and the share of the machine's CPU time that was busy.
 * @typedef {{ figure: string, side: 'service' | 'baseline', rate: number, microsPerOp: Record<string, number>, machineBusyShare: number }} CpuRow
 */

export const describe = (/** @type {Measurement} */ m) => `${fixed(m.rps, 0)}/s p50 ${fixed(m.p50, 2)} ms p99 ${fixed(m.p99, 2)} ms`;

/**
 * Medians over rounds of each statistic; counts are summed.
 * @param {Measurement[]} rounds
 * @returns {Measurement}
 */
function medianOf(rounds) {
  const sum = (/** @type {(m: Measurement) => number} */ pick) => rounds.reduce((total, m) => total + (pick(m) ?? 0), 0);
  return {
    count: sum((m) => m.count),
    seconds: sum((m) => m.seconds),
    rps: median(rounds.map((m) => m.rps)),
    p50: median(rounds.map((m) => m.p50)),
    p99: median(rounds.map((m) => m.p99)),
    errors: sum((m) => m.errors),
    non2xx: sum((m) => m.non2xx),
    noDriver: sum((m) => m.noDriver ?? 0),
  };
}

/**
 * A warm-up of each side, then `rounds` alternating rounds (baseline, service),
 * so drift in the machine's load hits both alike; medians of the rounds.
 * @param {Bench} bench
 * @param {string} label
 * @param {{ service: (seconds: number) => Promise<Measurement>, baseline: (seconds: number) => Promise<Measurement> }} sides
 */
export async function compare(bench, label, sides) {
  const { seconds, warmupSeconds, rounds } = bench.settings;
  if (warmupSeconds > 0) {
    await sides.baseline(warmupSeconds);
    await sides.service(warmupSeconds);
  }
  /** @type {{ service: Measurement[], baseline: Measurement[] }} */
  const results = { service: [], baseline: [] };
  const cpu = { service: cpuTally(), baseline: cpuTally() };
  for (let round = 1; round <= rounds; round++) {
    for (const side of /** @type {const} */ (['baseline', 'service'])) {
      const before = cpuSnapshot();
      const m = await sides[side](seconds);
      cpu[side].add(cpuBetween(before, cpuSnapshot()), m.rps * m.seconds);
      results[side].push(m);
      log(`${label}: ${side} round ${round}: ${describe(m)}${m.non2xx || m.errors ? ` (${m.non2xx} non-2xx, ${m.errors} errors)` : ''}`);
    }
  }
  for (const side of /** @type {const} */ (['baseline', 'service'])) {
    const row = cpu[side].row(label, side);
    if (row) bench.cpu.push(row);
  }
  const service = medianOf(results.service);
  if (service.non2xx || service.errors)
    bench.notes.push(`${label}: the service answered ${service.non2xx} non-2xx and ${service.errors} errors.`);
  return { service, baseline: medianOf(results.baseline) };
}

/**
 * @param {string} figure
 * @param {string} unit
 * @param {number} service
 * @param {number} baseline
 * @param {{ text: string, holds: (ratio: number) => boolean, percent?: boolean }} target
 * @returns {Row}
 */
export function ratioRow(figure, unit, service, baseline, target) {
  const ratio = service / baseline;
  return {
    figure,
    service: `${fixed(service, unit === 'ms' ? 2 : 0)} ${unit}`,
    baseline: `${fixed(baseline, unit === 'ms' ? 2 : 0)} ${unit}`,
    ratio: target.percent ? `${fixed(ratio * 100, 0)} %` : `${fixed(ratio, 3)}x`,
    target: target.text,
    pass: target.holds(ratio),
  };
}

/**
 * A row with no baseline: a value against an absolute target.
 * @param {string} figure
 * @param {string} service
 * @param {string} target
 * @param {boolean} pass
 * @returns {Row}
 */
export const plainRow = (figure, service, target, pass) => ({ figure, service, baseline: '—', ratio: '—', target, pass });

/** Sums the CPU of a side's rounds. */
function cpuTally() {
  /** @type {Record<string, number>} */
  const seconds = {};
  let operations = 0;
  let elapsed = 0;
  let busy = 0;
  let measured = false;
  return {
    /** @param {ReturnType<typeof cpuBetween>} round @param {number} roundOperations */
    add(round, roundOperations) {
      if (!round) return;
      measured = true;
      for (const group of GROUPS) seconds[group] = (seconds[group] ?? 0) + round.seconds[group];
      operations += roundOperations;
      elapsed += round.elapsed;
      busy += round.machineBusyShare * round.elapsed;
    },
    /** @param {string} figure @param {'service' | 'baseline'} side @returns {CpuRow | null} */
    row(figure, side) {
      if (!measured || operations === 0) return null;
      const microsPerOp = Object.fromEntries(GROUPS.map((group) => [group, (seconds[group] / operations) * 1e6]));
      return { figure, side, rate: operations / elapsed, microsPerOp, machineBusyShare: busy / elapsed };
    },
  };
}
