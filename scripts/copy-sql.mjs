// Copies the SQL routine files (src/**/*.sql) beside the compiled code in dist/, where the service reads them.
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
for (const file of readdirSync(join(root, 'src'), { recursive: true })) {
  if (!String(file).endsWith('.sql')) continue;
  const target = join(root, 'dist', 'src', String(file));
  mkdirSync(dirname(target), { recursive: true });
  cpSync(join(root, 'src', String(file)), target);
}
