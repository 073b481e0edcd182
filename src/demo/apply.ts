/** Server-side apply of manifests through the API, as `kubectl apply --server-side` does. */
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

export async function applyAll(client: KubeClient, objects: readonly Manifest[]): Promise<void> {
  for (const o of objects) {
    try {
      await client.request('PATCH', resourcePath(o), {
        query: { fieldManager: 'kubevirtbmc-demo', force: true },
        contentType: 'application/apply-patch+yaml',
        body: o,
      });
    } catch (err) {
      throw new Error(`cannot apply ${displayName(o)}: ${(err as Error).message}`);
    }
  }
}
