/**
 * The part of kustomize that `deploy/` uses, so the demo installs exactly what `kubectl apply -k
 * deploy/` installs without needing kubectl: `resources` (files and directories with their own
 * kustomization.yaml, in order), `namespace`, `labels` (`pairs`, with or without selectors) and
 * `commonLabels`. Anything else in a kustomization is refused loudly rather than ignored.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

const SUPPORTED = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'labels', 'commonLabels']);
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'CustomResourceDefinition',
  'ClusterRole',
  'ClusterRoleBinding',
]);

function kustomizationFile(dir: string): string {
  for (const n of ['kustomization.yaml', 'kustomization.yml', 'Kustomization']) {
    const p = join(dir, n);
    if (existsSync(p)) return p;
  }
  throw new Error(`${dir}: no kustomization.yaml`);
}

export function readManifests(file: string): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0]!.message}`);
    const v = doc.toJSON() as Manifest | null;
    if (v === null || v === undefined) continue;
    if (!v.apiVersion || !v.kind || !v.metadata?.name)
      throw new Error(`${file}: a document without apiVersion, kind or metadata.name`);
    out.push(v);
  }
  return out;
}

function addLabels(o: Manifest, pairs: Record<string, string>, selectors: boolean): void {
  o.metadata.labels = { ...(o.metadata.labels ?? {}), ...pairs };
  if (!selectors) return;
  const spec = o.spec as
    | {
        selector?: { matchLabels?: Record<string, string> } & Record<string, unknown>;
        template?: { metadata?: { labels?: Record<string, string> } };
      }
    | undefined;
  if (!spec) return;
  if (o.kind === 'Service') spec.selector = { ...(spec.selector ?? {}), ...pairs };
  else if (spec.selector) spec.selector.matchLabels = { ...(spec.selector.matchLabels ?? {}), ...pairs };
  if (spec.template) {
    spec.template.metadata ??= {};
    spec.template.metadata.labels = { ...(spec.template.metadata.labels ?? {}), ...pairs };
  }
}

/** Renders a kustomization directory into manifests, in the order kustomize emits resources. */
export function kustomize(dir: string): Manifest[] {
  const file = kustomizationFile(dir);
  const k = (parseAllDocuments(readFileSync(file, 'utf8'))[0]?.toJSON() ?? {}) as {
    resources?: string[];
    namespace?: string;
    labels?: Array<{ pairs: Record<string, string>; includeSelectors?: boolean }>;
    commonLabels?: Record<string, string>;
  };
  const unknown = Object.keys(k).filter((key) => !SUPPORTED.has(key));
  if (unknown.length)
    throw new Error(
      `${file}: the demo's kustomize does not support ${unknown.join(', ')}; use kubectl apply -k`,
    );
  const out: Manifest[] = [];
  for (const r of k.resources ?? []) {
    const p = join(dir, r);
    if (!existsSync(p)) throw new Error(`${file}: resource ${r} does not exist`);
    out.push(...(statSync(p).isDirectory() ? kustomize(p) : readManifests(p)));
  }
  for (const o of out) {
    if (k.namespace && !CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
    for (const l of k.labels ?? []) addLabels(o, l.pairs, l.includeSelectors === true);
    if (k.commonLabels) addLabels(o, k.commonLabels, true);
  }
  return out;
}
