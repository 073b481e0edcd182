#!/usr/bin/env node
// `npm run bench [name ...]`: runs each benchmark in bench/ (files named *.bench.ts) in turn.
// Each prints its own figures beside a baseline measured in the same run.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const flags = process.argv.slice(2).filter((a) => a.startsWith('-'));
const benches = readdirSync(new URL('../bench/', import.meta.url))
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.includes(w)))
  .sort();
if (benches.length === 0) {
  console.log('No benchmarks in bench/ yet.');
  process.exit(0);
}
let failed = 0;
for (const b of benches) {
  console.log(`\n### ${b}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', `bench/${b}`, ...flags], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
