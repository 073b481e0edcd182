/** Applies manifests through the API for the demo: server-side, with kubectl's last-applied annotation. */
import type { KubeClient } from '../kube/client.ts';
import { apiPath, parseApiVersion } from '../kube/paths.ts';
import type { Manifest } from './kustomize.ts';

const CLUSTER_SCOPED = new Set([
  'Namespace',
  'CustomResourceDefinition',
  'ClusterRole',
  'ClusterRoleBinding',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
]);

/** The resource of a kind, as the API server names it: `Deployment` → `deployments`, `…Policy` → `…policies`. */
function pluralOf(kind: string): string {
  const k = kind.toLowerCase();
  return /[^aeiou]y$/.test(k) ? `${k.slice(0, -1)}ies` : `${k}s`;
}

export function resourcePath(o: Manifest): string {
  return apiPath(
    { ...parseApiVersion(o.apiVersion), plural: pluralOf(o.kind) },
    {
      namespace: CLUSTER_SCOPED.has(o.kind) ? undefined : (o.metadata.namespace ?? 'default'),
      name: o.metadata.name,
    },
  );
}

/** `kind/name` as kubectl prints it, e.g. `deployment.apps/kubevirtbmc-controller`. */
export function displayName(o: Manifest): string {
  const group = o.apiVersion.includes('/') ? `.${o.apiVersion.split('/')[0]}` : '';
  return `${o.kind.toLowerCase()}${group}/${o.metadata.name}`;
}

export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** JSON as Go's encoding/json writes a map: keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped. */
function goJson(v: unknown): string {
  const sorted = (x: unknown): unknown =>
    Array.isArray(x)
      ? x.map(sorted)
      : x && typeof x === 'object'
        ? Object.fromEntries(
            Object.keys(x)
              .sort()
              .map((k) => [k, sorted((x as Record<string, unknown>)[k])]),
          )
        : x;
  return JSON.stringify(sorted(v)).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * The object with the annotation client-side `kubectl apply` keeps on what it applied: the manifest
 * as JSON, without that annotation (an empty `annotations` when it has no other), with a final newline. With it, a later `kubectl apply` of the
 * same manifest has its three-way merge base and says nothing but `unchanged` or `configured`;
 * without it kubectl warns, for every object, that the annotation is missing. Secrets do not get
 * it: it would copy their data into an annotation, which `kubectl describe` prints.
 */
export function withLastApplied(o: Manifest): Manifest {
  if (o.kind === 'Secret' && !o.apiVersion.includes('/')) return o;
  // kubectl leaves `"annotations":{}` in it when the manifest has no other annotation.
  const { [LAST_APPLIED]: _, ...annotations } = (o.metadata.annotations ?? {}) as Record<string, string>;
  const applied = `${goJson({ ...o, metadata: { ...o.metadata, annotations } })}\n`;
  return { ...o, metadata: { ...o.metadata, annotations: { ...annotations, [LAST_APPLIED]: applied } } };
}

/**
 * Applies each object server-side (field manager `kubevirtbmc-demo`), with the last-applied
 * annotation `kubectl apply -k deploy/` would leave, so that a user's own `kubectl apply` of the same
 * files afterwards behaves as after a `kubectl apply`.
 */
export async function applyAll(client: KubeClient, objects: readonly Manifest[]): Promise<void> {
  for (const o of objects) {
    try {
      await client.request('PATCH', resourcePath(o), {
        query: { fieldManager: 'kubevirtbmc-demo', force: true },
        contentType: 'application/apply-patch+yaml',
        body: withLastApplied(o),
      });
    } catch (err) {
      throw new Error(`cannot apply ${displayName(o)}: ${(err as Error).message}`);
    }
  }
}
