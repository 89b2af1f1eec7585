// @ts-check
/**
 * Where a CPU profile's time went: `node bench/profile-top.mjs <file.cpuprofile> [top]`
 * prints the functions with the most self time, then self time by package
 * (node_modules package, dist/src file, or node internals). Profiles come from
 * BENCH_PROFILE=1 npm run bench (or bench/serve.mjs --profile), written when
 * the service stops. Percentages are of the busy (non-idle) time. Last, the
 * service's own functions (dist/src) and the packages' entry points by
 * inclusive time: what they and everything they called cost.
 */
import { readFileSync } from 'node:fs';

/**
 * @typedef {{ id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }} ProfileNode
 * @typedef {{ nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }} Profile
 */

const [file, topArg] = process.argv.slice(2);
if (!file) throw new Error('usage: node bench/profile-top.mjs <file.cpuprofile> [top]');
/** @type {Profile} */
const profile = JSON.parse(readFileSync(file, 'utf8'));
const top = Number(topArg ?? 25);

/** Self microseconds per node id. */
const self = new Map();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const idleIds = new Set(profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
const total = [...self].reduce((sum, [id, us]) => sum + (idleIds.has(id) ? 0 : us), 0);

/** @param {string} url */
function owner(url) {
  if (!url) return '(native/idle)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const own = /\/dist\/(src\/.+)$/.exec(url);
  if (own) return own[1];
  return url.startsWith('node:') ? 'node internals' : url.replace(/^file:\/\//, '');
}

/**
 * @param {(node: ProfileNode) => string} key
 * @returns {Array<[string, number]>}
 */
function aggregate(key) {
  /** @type {Map<string, number>} */
  const sums = new Map();
  for (const node of profile.nodes) {
    const us = self.get(node.id);
    if (us) sums.set(key(node), (sums.get(key(node)) ?? 0) + us);
  }
  return [...sums].sort((a, b) => b[1] - a[1]);
}

const pct = (/** @type {number} */ us) => `${((us / total) * 100).toFixed(1).padStart(5)} %`;
const ms = (/** @type {number} */ us) => `${(us / 1000).toFixed(0).padStart(7)} ms`;

console.log(`${file}: ${(total / 1e6).toFixed(1)} s busy\n\nTop self time:`);
for (const [name, us] of aggregate(
  (n) => `${n.callFrame.functionName || '(anonymous)'}  ${owner(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`,
).slice(0, top)) {
  console.log(`${ms(us)} ${pct(us)}  ${name}`);
}
console.log('\nSelf time by package / file:');
for (const [name, us] of aggregate((n) => (n.callFrame.url ? owner(n.callFrame.url) : n.callFrame.functionName)).slice(0, top)) {
  console.log(`${ms(us)} ${pct(us)}  ${name}`);
}

/** Inclusive time per frame key: each sample counts once for every distinct key on its stack. */
function inclusive(/** @type {(node: ProfileNode) => string | null} */ key) {
  /** @type {Map<number, number>} */
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  /** @type {Map<string, number>} */
  const sums = new Map();
  for (const [id, us] of self) {
    if (idleIds.has(id)) continue;
    const seen = new Set();
    for (let at = /** @type {number | undefined} */ (id); at !== undefined; at = parent.get(at)) {
      const k = key(/** @type {ProfileNode} */ (byId.get(at)));
      if (k && !seen.has(k)) {
        seen.add(k);
        sums.set(k, (sums.get(k) ?? 0) + us);
      }
    }
  }
  return [...sums].sort((a, b) => b[1] - a[1]);
}

console.log("\nInclusive time of the service's own functions:");
for (const [name, us] of inclusive((n) =>
  /\/dist\/src\//.test(n.callFrame.url) ? `${n.callFrame.functionName || '(anonymous)'}  ${owner(n.callFrame.url)}` : null,
).slice(0, top)) {
  console.log(`${ms(us)} ${pct(us)}  ${name}`);
}
