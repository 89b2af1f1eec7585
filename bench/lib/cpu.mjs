// @ts-check
/**
 * Where the CPU goes during a round: CPU time per process group, read from
 * /proc before and after, and how busy the whole machine was. Divided by the
 * operations of the round it gives the CPU cost of one operation in each
 * part (the service, PostgreSQL, Redis, the load generator...), which shows
 * whether a target is reachable on this machine at all. Linux only; elsewhere
 * every figure is null.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

/** Process groups, by command line; the load generator is counted apart (see cpuSnapshot). */
export const GROUPS = /** @type {const} */ ([
  'service',
  'baseline server',
  'load generator',
  'bench process',
  'PostgreSQL',
  'Redis',
  'other',
]);
/** 'other': every other process, kernel threads included (on this kind of machine they carry loopback network work). */

/** @typedef {Record<(typeof GROUPS)[number], number>} CpuSeconds */
/**
 * CPU seconds so far of every process, by pid (a process that started after `before` counts from zero, and
 * one that ended before `after` is lost, except the bench's reaped children: the load generator).
 * @typedef {{ at: number, processes: Map<string, { group: (typeof GROUPS)[number], seconds: number }>, machineBusy: number, machineTotal: number }} CpuSnapshot
 */

/** @param {string} cmdline @returns {(typeof GROUPS)[number]} */
function groupOf(cmdline) {
  if (cmdline.includes('dist/src/main.js')) return 'service';
  if (cmdline.includes('baseline-fastify')) return 'baseline server';
  if (cmdline.includes('bench/load.mjs')) return 'load generator';
  if (cmdline.startsWith('postgres')) return 'PostgreSQL';
  if (cmdline.startsWith('redis-server')) return 'Redis';
  return 'other';
}

/** @param {string} pid @returns {number[] | null} utime, stime, cutime, cstime in ticks */
function times(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .slice(11, 15)
      .map(Number);
  } catch {
    return null;
  }
}

/** @returns {CpuSnapshot | null} */
export function cpuSnapshot() {
  if (!existsSync('/proc/stat')) return null;
  /** @type {CpuSnapshot['processes']} */
  const processes = new Map();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const t = times(pid);
    if (!t) continue;
    if (Number(pid) === process.pid) {
      // The bench's own work (the direct baselines' pg client, the webhook receiver), and, as the
      // children's times, the load generator processes it ran and reaped.
      processes.set(pid, { group: 'bench process', seconds: (t[0] + t[1]) / TICKS_PER_SECOND });
      processes.set(`${pid}:children`, { group: 'load generator', seconds: (t[2] + t[3]) / TICKS_PER_SECOND });
      continue;
    }
    let cmdline;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    processes.set(pid, { group: groupOf(cmdline), seconds: (t[0] + t[1]) / TICKS_PER_SECOND });
  }
  // user nice system idle iowait irq softirq steal (guest time is already inside user and nice).
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = cpu[3] + (cpu[4] ?? 0);
  const total = cpu.reduce((sum, value) => sum + value, 0);
  return { at: performance.now(), processes, machineBusy: (total - idle) / TICKS_PER_SECOND, machineTotal: total / TICKS_PER_SECOND };
}

/**
 * CPU per group between two snapshots.
 * @param {CpuSnapshot | null} before
 * @param {CpuSnapshot | null} after
 * @returns {{ seconds: CpuSeconds, elapsed: number, machineBusyShare: number } | null}
 */
export function cpuBetween(before, after) {
  if (!before || !after) return null;
  const seconds = /** @type {CpuSeconds} */ (Object.fromEntries(GROUPS.map((group) => [group, 0])));
  for (const [pid, { group, seconds: used }] of after.processes) seconds[group] += used - (before.processes.get(pid)?.seconds ?? 0);
  const machineTotal = after.machineTotal - before.machineTotal;
  return {
    seconds,
    elapsed: (after.at - before.at) / 1000,
    machineBusyShare: machineTotal > 0 ? (after.machineBusy - before.machineBusy) / machineTotal : 0,
  };
}
