#!/usr/bin/env node
/**
 * Restores lock entries for jest's unrs-resolver platform bindings that npm
 * leaves out when the registry it resolves against lacks them (ours mirrors
 * Linux builds only). Without the entries `npm ci` refuses the lock file
 * ("Missing: @unrs/resolver-binding-… from lock file"). The entries carry
 * os/cpu, so npm installs only the one for the machine it runs on.
 *
 * Run after regenerating package-lock.json: `node scripts/complete-lockfile.mjs`.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const PLATFORMS = {
  'android-arm-eabi': ['android', 'arm'],
  'android-arm64': ['android', 'arm64'],
  'darwin-arm64': ['darwin', 'arm64'],
  'darwin-x64': ['darwin', 'x64'],
  'freebsd-x64': ['freebsd', 'x64'],
  'linux-arm-gnueabihf': ['linux', 'arm'],
  'linux-arm-musleabihf': ['linux', 'arm'],
  'linux-arm64-gnu': ['linux', 'arm64'],
  'linux-arm64-musl': ['linux', 'arm64'],
  'linux-loong64-gnu': ['linux', 'loong64'],
  'linux-loong64-musl': ['linux', 'loong64'],
  'linux-ppc64-gnu': ['linux', 'ppc64'],
  'linux-riscv64-gnu': ['linux', 'riscv64'],
  'linux-riscv64-musl': ['linux', 'riscv64'],
  'linux-s390x-gnu': ['linux', 's390x'],
  'linux-x64-gnu': ['linux', 'x64'],
  'linux-x64-musl': ['linux', 'x64'],
  'openharmony-arm64': ['openharmony', 'arm64'],
  'win32-arm64-msvc': ['win32', 'arm64'],
  'win32-ia32-msvc': ['win32', 'ia32'],
  'win32-x64-msvc': ['win32', 'x64'],
};
const PREFIX = '@unrs/resolver-binding-';

const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
let added = 0;
for (const entry of Object.values(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (!name.startsWith(PREFIX) || lock.packages[key]) continue;
    const platform = PLATFORMS[name.slice(PREFIX.length)];
    if (!platform) throw new Error(`No platform known for ${name}`);
    lock.packages[key] = { version, cpu: [platform[1]], dev: entry.dev, license: 'MIT', optional: true, os: [platform[0]] };
    added += 1;
  }
}
const [root, ...rest] = Object.entries(lock.packages);
lock.packages = Object.fromEntries([root, ...rest.sort(([a], [b]) => a.localeCompare(b))]);
writeFileSync('package-lock.json', `${JSON.stringify(lock, null, 2)}\n`);
process.stdout.write(`Added ${added} lock entries\n`);
