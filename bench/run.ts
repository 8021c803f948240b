// `npm run bench [-- NAME...]`: runs every bench/*.bench.ts (or those whose name contains one of
// the NAMEs) and prints, for each comparison, our figure, the floor's figure measured in the same
// run, their ratio and the target ratio. Exits 1 when a ratio misses its target.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Benchmark, BenchResult } from './lib/types.js';

const filters = process.argv.slice(2);
const dir = import.meta.dirname;
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort();

const rows: BenchResult[] = [];
for (const file of files) {
  const benchmark = (
    (await import(pathToFileURL(path.join(dir, file)).href)) as { default: Benchmark }
  ).default;
  if (filters.length > 0 && !filters.some((f) => benchmark.name.includes(f))) continue;
  console.log(`\n## ${benchmark.name}`);
  for (const result of await benchmark.run()) {
    rows.push(result);
    printRow(result);
  }
}

function printRow(r: BenchResult): void {
  const ratio = r.floor > 0 ? r.ours / r.floor : Number.POSITIVE_INFINITY;
  const verdict = ratio <= r.maxRatio ? 'ok' : 'MISSED';
  console.log(
    `${r.name}: ours ${r.ours.toFixed(1)} ${r.unit}, floor ${r.floor.toFixed(1)} ${r.unit}, ` +
      `ratio ${ratio.toFixed(2)} (target <= ${r.maxRatio}) ${verdict}`,
  );
  for (const note of r.notes ?? []) console.log(`  ${note}`);
}

const missed = rows.filter((r) => r.ours / r.floor > r.maxRatio);
console.log(`\n${rows.length - missed.length} of ${rows.length} comparisons within target`);
if (missed.length > 0) process.exitCode = 1;
