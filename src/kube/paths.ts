/**
 * API paths, built in one place: `/api/v1/…` for the core group, `/apis/<group>/<version>/…` for
 * the others, then `namespaces/<ns>/`, the plural, the name and a subresource. Every segment is
 * URL-encoded (a name the API server would refuse still cannot change which path is asked).
 */
import type { ResourceKind } from './types.ts';

export type Query = Record<string, string | number | boolean | undefined>;

/** Where a resource is served: a ResourceKind, or just its group, version and plural. */
export type ResourceRef = Pick<ResourceKind, 'group' | 'version' | 'plural'>;

export interface PathOptions {
  /** Omitted: across all namespaces (or a cluster-scoped resource). */
  namespace?: string | undefined;
  name?: string | undefined;
  /** `status`, `scale`, or an aggregated API's action (`start`, `console`…). */
  subresource?: string | undefined;
  /** Appended as `?k=v&…`; undefined values are left out. */
  query?: Query | undefined;
}

const seg = (s: string): string => encodeURIComponent(s);

/** `/api/v1` or `/apis/<group>/<version>`. */
export function groupVersionPath(group: string, version: string): string {
  return group ? `/apis/${seg(group)}/${seg(version)}` : `/api/${seg(version)}`;
}

/** `{group, version}` of an apiVersion: `apps/v1` → apps, v1; `v1` → '' (core), v1. */
export function parseApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/** The path of a collection or an object of `resource`, each segment encoded. */
export function apiPath(resource: ResourceRef, options: PathOptions = {}): string {
  let path = groupVersionPath(resource.group, resource.version);
  if (options.namespace !== undefined) path += `/namespaces/${seg(options.namespace)}`;
  path += `/${seg(resource.plural)}`;
  if (options.name !== undefined) path += `/${seg(options.name)}`;
  if (options.subresource !== undefined) {
    if (options.name === undefined) throw new Error('a subresource needs an object name');
    path += `/${seg(options.subresource)}`;
  }
  return path + queryString(options.query);
}

/** `?a=1&b=x` (URL-encoded), or '' when nothing is set. */
export function queryString(query: Query | undefined): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}

/** Kinds the product reads or writes that Kubernetes itself serves. */
export const KINDS = {
  Namespace: { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
  Pod: { group: '', version: 'v1', plural: 'pods', kind: 'Pod' },
  Secret: { group: '', version: 'v1', plural: 'secrets', kind: 'Secret' },
  ConfigMap: { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap' },
  Service: { group: '', version: 'v1', plural: 'services', kind: 'Service' },
  ServiceAccount: { group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount' },
  Event: { group: '', version: 'v1', plural: 'events', kind: 'Event' },
  Deployment: { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment' },
  Role: { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'roles', kind: 'Role' },
  RoleBinding: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    plural: 'rolebindings',
    kind: 'RoleBinding',
  },
  Lease: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease' },
  SelfSubjectReview: {
    group: 'authentication.k8s.io',
    version: 'v1',
    plural: 'selfsubjectreviews',
    kind: 'SelfSubjectReview',
    namespaced: false,
  },
} as const satisfies Record<string, ResourceKind>;

/** The apiVersion of a kind: `v1`, `apps/v1`. */
export function apiVersionOf(kind: Pick<ResourceKind, 'group' | 'version'>): string {
  return kind.group ? `${kind.group}/${kind.version}` : kind.version;
}
