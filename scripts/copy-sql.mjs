// Copies what the service reads at run time besides its compiled code into dist/: the SQL routine files
// (src/**/*.sql) and the tracking page's files (src/tracking/page/).
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const wanted = (file) => file.endsWith('.sql') || file.startsWith(join('tracking', 'page') + '/');
for (const file of readdirSync(join(root, 'src'), { recursive: true, withFileTypes: true })) {
  if (!file.isFile()) continue;
  const relative = join(file.parentPath ?? file.path, file.name).slice(join(root, 'src').length + 1);
  if (!wanted(relative)) continue;
  const target = join(root, 'dist', 'src', relative);
  mkdirSync(dirname(target), { recursive: true });
  cpSync(join(root, 'src', relative), target);
}
