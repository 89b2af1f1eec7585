import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { CONFIG_VARIABLES } from '../src/config/load-config.js';

const read = (file: string) => readFileSync(file, 'utf8');
/** Variables the docs name that belong to other programs (Docker's PostgreSQL image, PM2, the operator scripts). */
const NOT_OURS = new Set(['POSTGRES_PASSWORD', 'PM2_INSTANCES', 'PM2_MAX_MEMORY', 'NODE_MAX_OLD_SPACE_MB', 'DRIVER_SERVICE_URL']);
/** Files besides the service that read the environment: the PM2 file and the operator scripts. */
const ENV_READERS = ['ecosystem.config.cjs', ...readdirSync('scripts').map((name) => `scripts/${name}`)];

describe('documentation matches the configuration', () => {
  it.each(['README.md', 'INSTALLATION-CONFIGURATION.md'])('%s documents every variable the service reads', (file) => {
    const text = read(file);
    expect(CONFIG_VARIABLES.filter((name) => !text.includes(`\`${name}\``))).toEqual([]);
  });

  it.each(['README.md', 'INSTALLATION-CONFIGURATION.md'])('%s tables name no variable the service does not read', (file) => {
    const documented = [...read(file).matchAll(/^\|\s*`([A-Z][A-Z0-9_]{3,})`\s*\|/gm)].map((m) => m[1]);
    expect(documented.length).toBeGreaterThan(20);
    const known = new Set<string>(CONFIG_VARIABLES);
    expect([...new Set(documented)].filter((name) => !known.has(name) && !NOT_OURS.has(name))).toEqual([]);
  });

  it('INSTALLATION-CONFIGURATION.md documents every variable the PM2 file and the operator scripts read', () => {
    // The service itself reads the environment only through loadConfig (CONFIG_VARIABLES, checked above).
    const sources = (readdirSync('src', { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => read(`src/${f}`));
    expect(sources.flatMap((text) => text.match(/process\.env\s*[.[]/g) ?? []).length).toBe(0);
    const names = ENV_READERS.flatMap((file) => [...read(file).matchAll(/\b(?:process\.env|env)\.([A-Z][A-Z0-9_]+)/g)].map((m) => m[1]));
    expect(names.length).toBeGreaterThan(5);
    const text = read('INSTALLATION-CONFIGURATION.md');
    expect([...new Set(names)].filter((name) => !text.includes(`\`${name}\``))).toEqual([]);
  });

  it('the README shows the two commands, and package.json has every npm script the docs mention', () => {
    const readme = read('README.md');
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm ci && npm test');
    const scripts = Object.keys(JSON.parse(read('package.json')).scripts);
    for (const file of ['README.md', 'INSTALLATION-CONFIGURATION.md', 'ARCHITECTURE.md']) {
      const mentioned = [...read(file).matchAll(/npm run (?:-s )?([a-z][a-z0-9:-]*)/g)].map((m) => m[1]);
      expect({ file, missing: mentioned.filter((s) => !scripts.includes(s)) }).toEqual({ file, missing: [] });
    }
  });
});
