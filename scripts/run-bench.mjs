#!/usr/bin/env node
// `npm run bench [name ...] [-- --flag value ...]`: builds (so the agent runs as shipped, from dist/),
// then runs each benchmark in bench/ (files named *.bench.ts) in turn: ipmi, redfish, fuzz,
// resilience, scale. Each prints its figures beside a baseline measured in the same run. Names pick
// benchmarks (`npm run bench ipmi redfish`); everything from the first --flag on goes to each of them.
// The full scale run (no flags) also writes bench/results/scale.json and docs/performance-scale.svg.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const args = process.argv.slice(2);
const firstFlag = args.findIndex((a) => a.startsWith('-'));
const wanted = firstFlag < 0 ? args : args.slice(0, firstFlag);
const flags = firstFlag < 0 ? [] : args.slice(firstFlag);
const noBuild = flags.includes('--no-build');
const passed = flags.filter((f) => f !== '--no-build');
const ORDER = ['ipmi', 'redfish', 'fuzz', 'resilience', 'scale'];
const rank = (f) => {
  const i = ORDER.indexOf(f.replace(/\.bench\.ts$/, ''));
  return i < 0 ? ORDER.length : i;
};
const benches = readdirSync(new URL('../bench/', import.meta.url))
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.includes(w)))
  .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
if (benches.length === 0) {
  console.log(`No benchmark matches ${wanted.join(', ')}.`);
  process.exit(1);
}
if (!noBuild) {
  const b = spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}
let failed = 0;
for (const b of benches) {
  console.log(`\n### ${b}`);
  const extra =
    b === 'scale.bench.ts' && passed.length === 0
      ? ['--json', 'bench/results/scale.json', '--svg', 'docs/performance-scale.svg']
      : [];
  const r = spawnSync(process.execPath, ['--import', 'tsx', `bench/${b}`, ...passed, ...extra], {
    stdio: 'inherit',
  });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
