import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { CONFIG_VARIABLES } from '../src/config/load-config.js';

const read = (file: string) => readFileSync(file, 'utf8');
/** Variables the docs name that belong to other programs (Docker's PostgreSQL image, PM2). */
const NOT_OURS = new Set(['POSTGRES_PASSWORD', 'PM2_INSTANCES']);

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

  it('the README shows the two commands, and package.json has every npm script the docs mention', () => {
    const readme = read('README.md');
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm ci && npm test');
    const scripts = Object.keys(JSON.parse(read('package.json')).scripts);
    for (const file of ['README.md', 'INSTALLATION-CONFIGURATION.md', 'ARCHITECTURE.md']) {
      const mentioned = [...read(file).matchAll(/npm run (?:-s )?([a-z][a-z:-]*)/g)].map((m) => m[1]);
      expect({ file, missing: mentioned.filter((s) => !scripts.includes(s)) }).toEqual({ file, missing: [] });
    }
  });
});
