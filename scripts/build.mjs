// Compiles src/ to dist/ and stamps the build, so bin/segsync knows the build matches the sources.
// Run by `npm run build` and by `npm install` (prepare). A failed build leaves no stamp: the CLI
// then runs the sources through tsx instead, and npm install still succeeds.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const stamp = path.join(root, 'dist', '.build-stamp');
const strict = process.argv.includes('--strict');

fs.rmSync(stamp, { force: true });
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const result = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], {
  stdio: 'inherit',
});
if (result.status === 0) {
  fs.writeFileSync(stamp, `${new Date().toISOString()}\n`);
} else {
  console.error('segsync: the build failed; bin/segsync will run the sources through tsx.');
  if (strict) process.exit(result.status ?? 1);
}
