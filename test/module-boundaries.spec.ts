import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { ProfileChanges } from '../src/drivers/drivers.repository.js';

const SRC = resolve('src');

/** Every source file of the service (specs left out), by path relative to src/. */
const sourceFiles = (readdirSync(SRC, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'));

/** The feature folder a file of src/ belongs to ('.' for the files at its top). */
const folderOf = (file: string) => (file.includes('/') ? file.split('/')[0] : '.');

/** Folder → the folders its files import (type-only imports included: they couple the folders just as much). */
function folderGraph(): Map<string, Map<string, string[]>> {
  const graph = new Map<string, Map<string, string[]>>();
  for (const file of sourceFiles) {
    const from = folderOf(file);
    const text = readFileSync(join(SRC, file), 'utf8');
    for (const [, specifier] of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = relative(SRC, resolve(SRC, dirname(file), specifier));
      if (target.startsWith('..')) continue;
      const to = folderOf(target);
      if (to === from) continue;
      if (!graph.has(from)) graph.set(from, new Map());
      const edges = graph.get(from)!;
      edges.set(to, [...(edges.get(to) ?? []), `${file} imports ${specifier}`]);
    }
  }
  return graph;
}

/** Every cycle of folders, each as the path that closes it, with one import per step as evidence. */
function cycles(graph: Map<string, Map<string, string[]>>): string[][] {
  const found: string[][] = [];
  const seen = new Set<string>();
  const visit = (node: string, path: string[]) => {
    for (const [next, evidence] of graph.get(node) ?? []) {
      const at = path.indexOf(next);
      if (at >= 0) {
        const loop = [...path.slice(at), next];
        const key = [...loop.slice(0, -1)].sort().join(' ');
        if (!seen.has(key)) {
          seen.add(key);
          found.push(
            loop.map((folder, i) => (i + 1 < loop.length ? `${folder} (${(graph.get(folder)!.get(loop[i + 1]) ?? evidence)[0]})` : folder)),
          );
        }
      } else visit(next, [...path, next]);
    }
  };
  for (const node of graph.keys()) visit(node, [node]);
  return found;
}

/** Every file of src/ (specs left out) and migrations/ that may hold SQL, with its text. */
const sqlHolders = [
  ...sourceFiles.map((file) => `src/${file}`),
  ...(readdirSync(SRC, { recursive: true }) as string[]).filter((f) => f.endsWith('.sql')).map((f) => `src/${f}`),
  ...readdirSync('migrations').map((file) => `migrations/${file}`),
].map((path) => ({ path, text: readFileSync(path, 'utf8') }));

const outsideFleet = (path: string) => !path.startsWith('src/fleet/');

describe('module boundaries', () => {
  it('no two feature folders of src/ import each other, directly or round a loop', () => {
    const graph = folderGraph();
    expect(graph.size).toBeGreaterThan(10);
    expect(cycles(graph)).toEqual([]);
  });

  it('the cycle check finds a cycle when there is one', () => {
    const graph = new Map([
      ['auth', new Map([['outbox', ['auth/a.ts imports ../outbox/b.js']]])],
      [
        'outbox',
        new Map([
          ['common', ['x']],
          ['auth', ['outbox/b.ts imports ../auth/a.js']],
        ]),
      ],
    ]);
    expect(cycles(graph)).toHaveLength(1);
  });

  it("only src/fleet/ writes a driver's state: no other file updates status, is_active or state_version of drivers", () => {
    const writes = /UPDATE\s+drivers\b[^;`]*?\bSET\b[^;`]*?\b(status|is_active|state_version)\s*=/i;
    const writers = sqlHolders.filter(({ path, text }) => outsideFleet(path) && writes.test(text)).map(({ path }) => path);
    expect(writers).toEqual([]);
    // Every change of the state bumps state_version, so a writer elsewhere would have to name it.
    const namers = sqlHolders
      .filter(({ path, text }) => outsideFleet(path) && /state_version|stateVersion/.test(text))
      .map(({ path }) => path);
    expect(namers).toEqual(['migrations/1763700200000-driver-availability.ts']);
    // TypeScript writes outside the fleet go through ProfileChanges, which has no state in it (npm run typecheck checks these).
    // @ts-expect-error isActive is the fleet's
    const active: ProfileChanges = { isActive: false };
    // @ts-expect-error status is the fleet's
    const status: ProfileChanges = { status: 'AVAILABLE' };
    // @ts-expect-error stateVersion is the fleet's
    const version: ProfileChanges = { stateVersion: 1 };
    expect([active, status, version]).toHaveLength(3);
    // The check sees the fleet's own writers.
    expect(
      sqlHolders
        .filter(({ path, text }) => !outsideFleet(path) && writes.test(text))
        .map(({ path }) => path)
        .sort(),
    ).toEqual(['src/fleet/fleet.repository.ts', 'src/fleet/fleet.sql']);
  });

  it('the choosable rule is written once in SQL (driver_is_choosable) and once in Lua (CHOOSABLE)', () => {
    const heartbeatTests = sqlHolders.flatMap(({ path, text }) => (text.match(/last_seen_at\s*>=/g) ?? []).map(() => path));
    expect(heartbeatTests).toEqual(['src/fleet/fleet.sql']);
    const luaStateTests = sqlHolders.flatMap(({ path, text }) => (text.match(/'AVAILABLE:1:'/g) ?? []).map(() => path));
    expect(luaStateTests).toEqual(['src/fleet/state-mirror.scripts.ts']);
  });

  it('migrations change the schema only: a function one creates is owned by a routine file, which replaces it', () => {
    const created = (text: string) =>
      [...text.matchAll(/CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+([a-z_][a-z0-9_]*)/gi)].map((match) => match[1].toLowerCase());
    const owned = new Set(sqlHolders.filter(({ path }) => path.endsWith('.sql')).flatMap(({ text }) => created(text)));
    const inMigrations = sqlHolders.filter(({ path }) => path.startsWith('migrations/')).flatMap(({ text }) => created(text));
    // The indexed-position migration's transitional trigger function: fleet.sql's replaces it.
    expect(inMigrations).toContain('drivers_keep_indexed_position');
    expect(inMigrations.filter((name) => !owned.has(name))).toEqual([]);
  });
});
