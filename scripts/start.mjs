#!/usr/bin/env node
// `npm start`: builds dist/ when it is missing or older than src/ (so a fresh `npm ci && npm start`
// works and the demo's agent processes start from JavaScript), then runs `kubevirtbmc demo` in this
// process. Extra arguments pass through: `npm start -- --api-port 0`.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

const entry = join(root, 'dist', 'cli', 'main.js');
if (!existsSync(entry) || newest(join(root, 'src')) > statSync(entry).mtimeMs) {
  process.stdout.write('building dist/ (npm run build) ...\n');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], {
    cwd: root,
    stdio: 'inherit',
  });
  if (r.status !== 0) {
    process.stderr.write('npm start: the build failed (see above); `npm run build` shows the same errors\n');
    process.exit(r.status ?? 1);
  }
}
const { main } = await import(new URL('../dist/cli/main.js', import.meta.url).href);
process.exitCode = await main(['demo', ...process.argv.slice(2)]);
