#!/usr/bin/env node
// Runs the test suite on node:test through tsx. Node 20's runner cannot glob TypeScript files, so
// this finds them: `node scripts/run-tests.mjs [dir-or-file ...]` (default: test/ and packages/kube-sim/test/).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function collect(path, out) {
  if (statSync(path).isDirectory()) {
    for (const entry of readdirSync(path).sort()) {
      if (entry === 'node_modules' || entry === 'support') continue;
      collect(join(path, entry), out);
    }
  } else if (/\.test\.ts$/.test(path)) {
    out.push(path);
  }
  return out;
}

const roots = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const flags = process.argv.slice(2).filter((a) => a.startsWith('-'));
// the defaults that exist where it runs: the repository, or packages/kube-sim (npm test -w)
const defaults = ['test', 'packages/kube-sim/test'].filter((r) => existsSync(r));
const files = (roots.length ? roots : defaults).flatMap((r) => collect(r, []));
if (files.length === 0) {
  console.error('No test files found.');
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2', ...flags, ...files],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
