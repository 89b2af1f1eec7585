import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';

// Self-contained: Jest loads global setup without the module mapper the test files get.
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const MAIN = resolve('dist/src/main.js');

/** The fault suite brings its own servers: say plainly what is missing to start them. */
export default function globalSetup(): void {
  const missing: string[] = [];
  for (const tool of ['initdb', 'pg_ctl', 'postgres'])
    if (!existsSync(join(PG_BIN, tool))) missing.push(`${join(PG_BIN, tool)} (set PG_BIN)`);
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
  } catch {
    missing.push('redis-server on the PATH');
  }
  if (!existsSync(MAIN)) missing.push(`${MAIN} (run \`npm run build\`; \`npm run test:faults\` does)`);
  if (missing.length > 0) throw new Error(`The fault suite needs ${missing.join(', ')}.`);
}
