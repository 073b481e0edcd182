/**
 * `npm run helm`: builds helm (helm.sh/helm/v4, pinned in tools/helm/go.mod) from the Go module
 * proxy into a cache outside the repository, for the chart tests (deploy/chart). A build already in
 * the cache for the same pin is reused at once. `--print-path` prints the binary's path.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  HELM_TOOLS_DIR,
  helmBinary,
  helmBuildKey,
  helmCacheRoot,
  helmLdflags,
  pinnedHelmVersion,
} from './helm-binary.ts';

const printPath = process.argv.includes('--print-path');
const cached = helmBinary();
if (cached) {
  console.log(printPath ? cached : `helm ${pinnedHelmVersion()} already built: ${cached}`);
  process.exit(0);
}
if (printPath) {
  console.error('not built: run `npm run helm`');
  process.exit(1);
}
const go = spawnSync('go', ['version'], { encoding: 'utf8' });
if (go.status !== 0) {
  console.error(
    'helm: `go` is not on PATH. Install Go 1.26 or newer and run `npm run helm` again (the chart tests need helm).',
  );
  process.exit(1);
}
const version = pinnedHelmVersion();
const dir = join(helmCacheRoot(), helmBuildKey());
const tmp = `${dir}.partial-${process.pid}`;
rmSync(tmp, { recursive: true, force: true });
mkdirSync(tmp, { recursive: true });
console.log(`helm: building helm ${version} with ${go.stdout.trim()} into ${dir}`);
const started = Date.now();
const env = { ...process.env, GOFLAGS: '-mod=mod', GOTOOLCHAIN: process.env.GOTOOLCHAIN ?? 'local' };
const r = spawnSync(
  'go',
  [
    'build',
    '-trimpath',
    '-ldflags',
    helmLdflags(version),
    '-o',
    join(tmp, 'helm'),
    'helm.sh/helm/v4/cmd/helm',
  ],
  { cwd: HELM_TOOLS_DIR, env, stdio: 'inherit' },
);
if (r.status !== 0) {
  console.error(`helm: the build failed (exit ${r.status ?? r.signal}); nothing was cached`);
  rmSync(tmp, { recursive: true, force: true });
  process.exit(1);
}
const v = spawnSync(join(tmp, 'helm'), ['version', '--short'], { encoding: 'utf8' });
console.log(`helm: ${`${v.stdout}${v.stderr}`.trim()}`);
const seconds = Math.round((Date.now() - started) / 1000);
writeFileSync(
  join(tmp, 'built.json'),
  `${JSON.stringify({ helm: version, go: go.stdout.trim(), seconds, builtAt: new Date().toISOString() }, null, 2)}\n`,
);
rmSync(dir, { recursive: true, force: true });
renameSync(tmp, dir);
console.log(`helm: done in ${seconds} s: ${dir}/helm`);
