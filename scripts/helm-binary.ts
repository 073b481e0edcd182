/**
 * Where the helm binary the chart tests use lives: a cache outside the repository keyed by what
 * builds it (the Go module in tools/helm), like the real control plane's
 * (packages/kube-sim/src/fakecluster/controlplane/binaries.ts), so a changed pin builds anew and a
 * fresh clone on the same machine reuses an earlier build.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const HELM_TOOLS_DIR = fileURLToPath(new URL('../tools/helm', import.meta.url));

/** The pinned helm version, read from tools/helm/go.mod. */
export function pinnedHelmVersion(): string {
  const mod = readFileSync(join(HELM_TOOLS_DIR, 'go.mod'), 'utf8');
  const v = /helm\.sh\/helm\/v4 (v\S+)/.exec(mod)?.[1];
  if (!v) throw new Error(`cannot read the pinned helm version from ${HELM_TOOLS_DIR}/go.mod`);
  return v;
}

/** The -ldflags of the build: the version `helm version` reports (and chart kubeVersion checks use). */
export function helmLdflags(version: string): string {
  return `-s -w -X helm.sh/helm/v4/internal/version.version=${version}`;
}

/** A digest of everything that decides the build's output. */
export function helmBuildKey(): string {
  const version = pinnedHelmVersion();
  const h = createHash('sha256');
  h.update(`${process.platform}-${process.arch}\n${helmLdflags(version)}\n`);
  for (const f of readdirSync(HELM_TOOLS_DIR).sort()) {
    if (!/(\.go|go\.mod|go\.sum)$/.test(f)) continue;
    h.update(`${f}\n`);
    h.update(readFileSync(join(HELM_TOOLS_DIR, f)));
  }
  return `${version}-${h.digest('hex').slice(0, 12)}`;
}

/** $KUBEVIRTBMC_HELM_CACHE, else $XDG_CACHE_HOME or ~/.cache, /kubevirtbmc/helm. */
export function helmCacheRoot(): string {
  if (process.env.KUBEVIRTBMC_HELM_CACHE) return process.env.KUBEVIRTBMC_HELM_CACHE;
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'kubevirtbmc', 'helm');
}

/** The built helm for the current pin, or undefined when `npm run helm` has not run. */
export function helmBinary(): string | undefined {
  const dir = join(helmCacheRoot(), helmBuildKey());
  const bin = join(dir, 'helm');
  return existsSync(join(dir, 'built.json')) && existsSync(bin) ? bin : undefined;
}

export const HELM_BUILD_HINT =
  'helm is not built: run `npm run helm` (needs Go >= 1.26 and the Go module proxy; a few minutes the first time, cached after)';
