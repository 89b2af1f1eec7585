// @ts-check
/** The results table, the machine it ran on, and the generated sections of docs/benchmarks.md. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { GROUPS } from './cpu.mjs';
import { ROOT } from './service.mjs';

export const BENCHMARKS_DOC = join(ROOT, 'docs/benchmarks.md');

/** Progress lines go to stderr; stdout carries the results. */
export const log = (/** @type {string} */ message) => console.error(`[bench] ${message}`);

/**
 * @typedef {object} Row
 * @property {string} figure
 * @property {string} service
 * @property {string} baseline
 * @property {string} ratio
 * @property {string} target
 * @property {boolean} pass
 */

/**
 * A Markdown table (readable as plain text too).
 * @param {string[]} header
 * @param {string[][]} rows
 */
export function markdownTable(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (/** @type {string[]} */ cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** @param {Row[]} rows */
export function resultsTable(rows) {
  return markdownTable(
    ['figure', 'service', 'baseline', 'ratio', 'target', 'result'],
    rows.map((r) => [r.figure, r.service, r.baseline, r.ratio, r.target, r.pass ? 'pass' : '**FAIL**']),
  );
}

/**
 * @param {{ postgres: string, redis: string }} versions
 * @param {number} loadAtStart the 1-minute load average when the run began
 */
export function machineDescription(versions, loadAtStart) {
  const cpus = os.cpus();
  return [
    `- Date: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`,
    `- CPU: ${cpus.length} cores (${cpus[0]?.model.trim() ?? 'unknown'}), load average at start ${loadAtStart.toFixed(2)}`,
    `- RAM: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- OS: ${os.type()} ${os.release()}`,
    `- Node.js ${process.version}, PostgreSQL ${versions.postgres}, Redis ${versions.redis}`,
  ].join('\n');
}

/**
 * Replaces the section between `<!-- name -->` and `<!-- /name -->` in
 * `file` (docs/benchmarks.md by default; appending it when missing), leaving the rest alone.
 * @param {string} name
 * @param {string} content
 */
export function writeDocSection(name, content, file = BENCHMARKS_DOC) {
  const open = `<!-- ${name} -->`;
  const close = `<!-- /${name} -->`;
  const block = `${open}\n${content.trim()}\n${close}`;
  const doc = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const start = doc.indexOf(open);
  const end = doc.indexOf(close);
  const next = start >= 0 && end > start ? doc.slice(0, start) + block + doc.slice(end + close.length) : `${doc.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, next);
}

/**
 * CPU per operation, by process group, of each compared figure's sides.
 * @param {import('./compare.mjs').CpuRow[]} rows
 */
export function cpuTable(rows) {
  const groups = /** @type {string[]} */ ([...GROUPS]).filter((group) => rows.some((row) => row.microsPerOp[group] >= 0.5));
  return markdownTable(
    ['figure', 'side', 'ops/s', ...groups.map((group) => `${group} µs/op`), 'total µs/op', 'machine busy'],
    rows.map((row) => [
      row.figure,
      row.side,
      row.rate.toFixed(0),
      ...groups.map((group) => row.microsPerOp[group].toFixed(0)),
      Object.values(row.microsPerOp)
        .reduce((sum, v) => sum + v, 0)
        .toFixed(0),
      `${(row.machineBusyShare * 100).toFixed(0)} %`,
    ]),
  );
}
