/**
 * `npm run control-plane`: builds the real Kubernetes control plane the cluster tests run against
 * (kube-apiserver, kube-controller-manager, kube-scheduler from k8s.io/kubernetes, etcd from
 * go.etcd.io/etcd/server/v3) from the Go module proxy into a cache outside the repository. A build
 * already in the cache for the same pins is reused at once. `--print-dir` prints the directory.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BINARIES,
  buildKey,
  cacheRoot,
  controlPlaneBinaries,
  kubernetesLdflags,
  pinnedVersions,
  TOOLS_DIR,
} from '../packages/kube-sim/src/fakecluster/controlplane/binaries.ts';

const printDir = process.argv.includes('--print-dir');
const cached = controlPlaneBinaries();
if (cached) {
  if (printDir) console.log(cached.dir);
  else
    console.log(`control plane ${cached.version} (etcd ${cached.etcdVersion}) already built: ${cached.dir}`);
  process.exit(0);
}
if (printDir) {
  console.error('not built: run `npm run control-plane`');
  process.exit(1);
}

const go = spawnSync('go', ['version'], { encoding: 'utf8' });
if (go.status !== 0) {
  console.error(
    'control-plane: `go` is not on PATH. Install Go 1.26 or newer (e.g. from your distribution or go.dev) and run `npm run control-plane` again.',
  );
  process.exit(1);
}
const { kubernetes, etcd } = pinnedVersions();
const dir = join(cacheRoot(), buildKey());
const tmp = `${dir}.partial-${process.pid}`;
rmSync(tmp, { recursive: true, force: true });
mkdirSync(tmp, { recursive: true });
console.log(`control-plane: building Kubernetes ${kubernetes} and etcd ${etcd} with ${go.stdout.trim()}`);
console.log(`control-plane: into ${dir}`);

const env = { ...process.env, GOFLAGS: '-mod=mod', GOTOOLCHAIN: process.env.GOTOOLCHAIN ?? 'local' };
function build(what: string, cwd: string, args: string[]): number {
  const t = Date.now();
  const r = spawnSync('go', ['build', '-trimpath', ...args], { cwd, env, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(
      `control-plane: building ${what} failed (exit ${r.status ?? r.signal}); nothing was cached`,
    );
    rmSync(tmp, { recursive: true, force: true });
    process.exit(1);
  }
  const s = (Date.now() - t) / 1000;
  console.log(`control-plane: ${what} built in ${s.toFixed(0)} s`);
  return s;
}

const started = Date.now();
const seconds: Record<string, number> = {};
seconds.kubernetes = build(
  'kube-apiserver, kube-controller-manager, kube-scheduler',
  join(TOOLS_DIR, 'kubernetes'),
  [
    '-ldflags',
    kubernetesLdflags(kubernetes),
    '-o',
    `${tmp}/`,
    'k8s.io/kubernetes/cmd/kube-apiserver',
    'k8s.io/kubernetes/cmd/kube-controller-manager',
    'k8s.io/kubernetes/cmd/kube-scheduler',
  ],
);
seconds.etcd = build('etcd', join(TOOLS_DIR, 'etcd'), ['-ldflags', '-s -w', '-o', join(tmp, 'etcd'), '.']);
for (const b of BINARIES) {
  const r = spawnSync(join(tmp, b), ['--version'], { encoding: 'utf8' });
  const line = `${r.stdout}${r.stderr}`.split('\n').find((l) => l.trim()) ?? '';
  console.log(`control-plane: ${b}: ${line.trim()}`);
}
writeFileSync(
  join(tmp, 'built.json'),
  `${JSON.stringify({ kubernetes, etcd, go: go.stdout.trim(), seconds, builtAt: new Date().toISOString() }, null, 2)}\n`,
);
rmSync(dir, { recursive: true, force: true });
renameSync(tmp, dir);
console.log(`control-plane: done in ${((Date.now() - started) / 1000).toFixed(0)} s: ${dir}`);
