// @ts-check
/** Reading settings from command-line flags and environment variables. */
import { parseArgs } from 'node:util';

/**
 * @param {string} source where the value came from, for the error message
 * @param {string} raw
 */
function toNumber(source, raw) {
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < 0) throw new Error(`${source} must be a non-negative number (got "${raw}")`);
  return value;
}

/**
 * A number from the environment, or the fallback when unset or empty.
 * @param {string} name
 * @param {number} fallback
 */
export function envNumber(name, fallback) {
  const raw = process.env[name]?.trim();
  return raw ? toNumber(name, raw) : fallback;
}

/**
 * @typedef {{ flag: string, env?: string, type: 'number', fallback: number }
 *   | { flag: string, env?: string, type: 'string', fallback: string }
 *   | { flag: string, env?: string, type: 'boolean', fallback: boolean }} OptionSpec
 */

/**
 * Options from `--flag value` (or `--flag` for booleans), else the
 * environment variable, else the fallback.
 * @template {Record<string, OptionSpec>} T
 * @param {T} spec
 * @param {string[]} [argv]
 * @returns {{ [K in keyof T]: T[K]['fallback'] }}
 */
export function readOptions(spec, argv = process.argv.slice(2)) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: Object.fromEntries(Object.values(spec).map((o) => [o.flag, { type: o.type === 'boolean' ? 'boolean' : 'string' }])),
  });
  /** @type {Record<string, unknown>} */
  const result = {};
  for (const [key, option] of Object.entries(spec)) {
    const given = values[option.flag];
    const fromEnv = option.env ? process.env[option.env]?.trim() || undefined : undefined;
    if (option.type === 'boolean')
      result[key] = given ?? (fromEnv ? ['1', 'true', 'yes'].includes(fromEnv.toLowerCase()) : option.fallback);
    else if (option.type === 'number') {
      const raw = typeof given === 'string' ? given : fromEnv;
      result[key] =
        raw === undefined ? option.fallback : toNumber(typeof given === 'string' ? `--${option.flag}` : String(option.env), raw);
    } else result[key] = given ?? fromEnv ?? option.fallback;
  }
  return /** @type {any} */ (result);
}
