/**
 * Where the real control plane's binaries live: a cache outside the repository keyed by what
 * builds them (the Go modules in tools/controlplane and the link flags), so a fresh clone on the
 * same machine reuses an earlier build and a changed pin builds anew.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../../..', import.meta.url));
export const TOOLS_DIR = join(REPO_ROOT, 'tools', 'controlplane');
export const BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;
export type Binary = (typeof BINARIES)[number];

/** The pinned versions, read from tools/controlplane's go.mod files. */
export function pinnedVersions(): { kubernetes: string; etcd: string } {
  const k8s = readFileSync(join(TOOLS_DIR, 'kubernetes', 'go.mod'), 'utf8');
  const etcd = readFileSync(join(TOOLS_DIR, 'etcd', 'go.mod'), 'utf8');
  const kv = /k8s\.io\/kubernetes (v\S+)/.exec(k8s)?.[1];
  const ev = /go\.etcd\.io\/etcd\/server\/v3 (v\S+)/.exec(etcd)?.[1];
  if (!kv || !ev) throw new Error(`cannot read the pinned versions from ${TOOLS_DIR}/*/go.mod`);
  return { kubernetes: kv, etcd: ev };
}

/** The -ldflags of the Kubernetes build: the version the binaries report (kubectl picks by it). */
export function kubernetesLdflags(version: string): string {
  const [major, minor] = version.replace(/^v/, '').split('.');
  const vars: Record<string, string> = {
    gitVersion: version,
    gitMajor: major ?? '',
    gitMinor: minor ?? '',
    gitTreeState: 'clean',
  };
  const sets = ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'].flatMap((pkg) =>
    Object.entries(vars).map(([k, v]) => `-X ${pkg}.${k}=${v}`),
  );
  return ['-s', '-w', ...sets].join(' ');
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((e) => {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) return sourceFiles(p);
      return /(\.go|go\.mod|go\.sum)$/.test(e) ? [p] : [];
    });
}

/** A digest of everything that decides the build's output. */
export function buildKey(): string {
  const { kubernetes, etcd } = pinnedVersions();
  const h = createHash('sha256');
  h.update(`${process.platform}-${process.arch}\n${kubernetesLdflags(kubernetes)}\n`);
  for (const f of sourceFiles(TOOLS_DIR)) {
    h.update(`${relative(TOOLS_DIR, f)}\n`);
    h.update(readFileSync(f));
  }
  return `${kubernetes}-etcd${etcd}-${h.digest('hex').slice(0, 12)}`;
}

/** The cache root: $KUBEVIRTBMC_CONTROL_PLANE_CACHE, else $XDG_CACHE_HOME or ~/.cache, /kubevirtbmc/controlplane. */
export function cacheRoot(): string {
  if (process.env.KUBEVIRTBMC_CONTROL_PLANE_CACHE) return process.env.KUBEVIRTBMC_CONTROL_PLANE_CACHE;
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'kubevirtbmc', 'controlplane');
}

export interface ControlPlaneBinaries {
  dir: string;
  version: string;
  etcdVersion: string;
  path: Record<Binary, string>;
}

/** The built binaries for the current pins, or undefined when `npm run control-plane` has not run. */
export function controlPlaneBinaries(): ControlPlaneBinaries | undefined {
  const dir = join(cacheRoot(), buildKey());
  if (!existsSync(join(dir, 'built.json'))) return undefined;
  const path = Object.fromEntries(BINARIES.map((b) => [b, join(dir, b)])) as Record<Binary, string>;
  if (!BINARIES.every((b) => existsSync(path[b]))) return undefined;
  const { kubernetes, etcd } = pinnedVersions();
  return { dir, version: kubernetes, etcdVersion: etcd, path };
}

/** What to tell a user who has not built it. */
export const BUILD_HINT =
  'the real control plane is not built: run `npm run control-plane` (needs Go >= 1.26 and the Go module proxy; about 10 minutes the first time on 2 cores, cached after)';
