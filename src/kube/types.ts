/**
 * The Kubernetes object model every part of the product shares (meta/v1 as JSON): object metadata,
 * lists, `Status`, watch events and conditions. Loose structural types: objects come from the API
 * server as JSON and a real cluster may omit any field, so everything but a stored object's name is
 * optional. Kinds of our own (KubeVirt's, the VirtualMachineBMC) extend these where they are used.
 */

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  /** Opaque: compared only for equality, never ordered (the API's contract). */
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  managedFields?: unknown[];
  [key: string]: unknown;
}

/** Any object, as it may come from the API server (nothing guaranteed). */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

/** An object that has a name: every item of a list and every object of a watch event. */
export interface NamedObject extends KubeObject {
  metadata: ObjectMeta & { name: string };
  [key: string]: unknown;
}

/** A fully typed object, as written: apiVersion, kind and a name. */
export interface Resource extends NamedObject {
  apiVersion: string;
  kind: string;
}

export interface ListMeta {
  resourceVersion?: string;
  continue?: string;
  remainingItemCount?: number;
}

export interface KubeList<T> {
  apiVersion?: string;
  kind?: string;
  metadata?: ListMeta;
  items?: T[] | null;
}

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** meta/v1 Status: the body of a failed request, and the object of a watch `ERROR` event. */
export interface Status {
  apiVersion?: string;
  kind?: 'Status' | string;
  status?: 'Success' | 'Failure' | string;
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code?: number;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

/** One line of a watch stream. */
export type WatchEvent<T = KubeObject> =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: T }
  | { type: 'BOOKMARK'; object: KubeObject }
  | { type: 'ERROR'; object: Status };

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** A condition of an object's status (meta/v1 Condition; KubeVirt's and CDI's have the same shape). */
export interface Condition {
  type: string;
  status: ConditionStatus;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastProbeTime?: string;
  observedGeneration?: number;
}

/** The API coordinates of a kind: where it is served (group, version, plural) and what it is called. */
export interface ResourceKind {
  /** '' for the core group (`/api/v1`). */
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  /** false for cluster-scoped kinds (Namespace, ClusterRole…); default true. */
  readonly namespaced?: boolean;
}

/** `namespace/name` (namespace '' for cluster-scoped objects): the key of an object in a cache. */
export function keyOf(object: KubeObject): string | undefined {
  const name = object?.metadata?.name;
  return name ? `${object.metadata?.namespace ?? ''}/${name}` : undefined;
}
