/** The resource types the cluster serves: built-ins, plus whatever applied CRDs declare. */

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  format?: string;
  description?: string;
  priority?: number;
}

export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  /** Has a /status subresource (spec and status written through separate endpoints). */
  status: boolean;
  /** A built-in type (strategic merge patch allowed); false for custom resources. */
  builtin: boolean;
  printerColumns?: PrinterColumn[];
  /** Extra field-selector paths besides metadata.name / metadata.namespace. */
  fieldSelectors?: string[];
  /** openAPIV3Schema of the CRD version, for validation. */
  // biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
  schema?: any;
  /** Name of the CRD serving this type. */
  crd?: string;
  /** Other subresources served (e.g. kubevirt's live via a separate group, `scale`, `log`). */
  extraSubresources?: string[];
  /** Discovery verbs when not the full CRUD set (namespaces have no deletecollection). */
  verbs?: string[];
  /** Whether writes bump generation (true for types with a spec). */
  generation?: boolean;
  /** A create keeps the status it carries (Nodes: the kubelet registers with its status). */
  statusOnCreate?: boolean;
}

export function apiVersionOf(t: ResourceType): string {
  return t.group ? `${t.group}/${t.version}` : t.version;
}

/** Key of the storage a type lives in: one per group+plural (all versions share it). */
export function storageKey(t: { group: string; plural: string }): string {
  return `${t.group}/${t.plural}`;
}

function core(
  plural: string,
  kind: string,
  namespaced: boolean,
  extra: Partial<ResourceType> = {},
): ResourceType {
  return {
    group: '',
    version: 'v1',
    plural,
    singular: kind.toLowerCase(),
    kind,
    namespaced,
    status: false,
    builtin: true,
    ...extra,
  };
}

export const BUILTIN_TYPES: ResourceType[] = [
  core('namespaces', 'Namespace', false, {
    shortNames: ['ns'],
    status: true,
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    extraSubresources: ['finalize'],
    fieldSelectors: ['status.phase'],
  }),
  core('pods', 'Pod', true, {
    shortNames: ['po'],
    categories: ['all'],
    status: true,
    // pods carry a generation since 1.33 (binding to a node does not bump it; graceful deletion does)
    generation: true,
    fieldSelectors: [
      'spec.nodeName',
      'status.phase',
      'spec.serviceAccountName',
      'spec.restartPolicy',
      'status.podIP',
    ],
    extraSubresources: ['binding', 'log'],
  }),
  core('services', 'Service', true, {
    shortNames: ['svc'],
    categories: ['all'],
    status: true,
    fieldSelectors: ['spec.clusterIP', 'spec.type'],
  }),
  core('secrets', 'Secret', true, { fieldSelectors: ['type'] }),
  core('serviceaccounts', 'ServiceAccount', true, { shortNames: ['sa'], extraSubresources: ['token'] }),
  core('configmaps', 'ConfigMap', true, { shortNames: ['cm'] }),
  core('events', 'Event', true, {
    shortNames: ['ev'],
    fieldSelectors: [
      'involvedObject.kind',
      'involvedObject.namespace',
      'involvedObject.name',
      'involvedObject.uid',
      'involvedObject.apiVersion',
      'involvedObject.resourceVersion',
      'involvedObject.fieldPath',
      'reason',
      'reportingComponent',
      'source',
      'type',
    ],
  }),
  core('persistentvolumeclaims', 'PersistentVolumeClaim', true, { shortNames: ['pvc'], status: true }),
  core('persistentvolumes', 'PersistentVolume', false, { shortNames: ['pv'], status: true }),
  core('nodes', 'Node', false, {
    shortNames: ['no'],
    status: true,
    statusOnCreate: true,
    fieldSelectors: ['spec.unschedulable'],
  }),
  core('endpoints', 'Endpoints', true, { shortNames: ['ep'] }),
  {
    group: 'events.k8s.io',
    version: 'v1',
    plural: 'events',
    singular: 'event',
    kind: 'Event',
    namespaced: true,
    shortNames: ['ev'],
    status: false,
    builtin: true,
    fieldSelectors: ['regarding.kind', 'regarding.name', 'regarding.namespace', 'reason', 'type'],
  },
  {
    group: 'apps',
    version: 'v1',
    plural: 'deployments',
    singular: 'deployment',
    kind: 'Deployment',
    namespaced: true,
    shortNames: ['deploy'],
    categories: ['all'],
    status: true,
    builtin: true,
    generation: true,
    extraSubresources: ['scale'],
  },
  {
    group: 'apps',
    version: 'v1',
    plural: 'replicasets',
    singular: 'replicaset',
    kind: 'ReplicaSet',
    namespaced: true,
    shortNames: ['rs'],
    categories: ['all'],
    status: true,
    builtin: true,
    generation: true,
    extraSubresources: ['scale'],
  },
  {
    // KubeVirt stores instance types and preferences in them (the fake virt-controller writes them)
    group: 'apps',
    version: 'v1',
    plural: 'controllerrevisions',
    singular: 'controllerrevision',
    kind: 'ControllerRevision',
    namespaced: true,
    status: false,
    builtin: true,
  },
  ...(['roles', 'rolebindings', 'clusterroles', 'clusterrolebindings'] as const).map(
    (plural): ResourceType => {
      const kind = {
        roles: 'Role',
        rolebindings: 'RoleBinding',
        clusterroles: 'ClusterRole',
        clusterrolebindings: 'ClusterRoleBinding',
      }[plural];
      return {
        group: 'rbac.authorization.k8s.io',
        version: 'v1',
        plural,
        singular: kind.toLowerCase(),
        kind,
        namespaced: !plural.startsWith('cluster'),
        status: false,
        builtin: true,
      };
    },
  ),
  {
    group: 'coordination.k8s.io',
    version: 'v1',
    plural: 'leases',
    singular: 'lease',
    kind: 'Lease',
    namespaced: true,
    status: false,
    builtin: true,
  },
  // Stored and served (deploy/ applies a policy), not enforced: see docs/sim.md.
  ...(['validatingadmissionpolicies', 'validatingadmissionpolicybindings'] as const).map(
    (plural): ResourceType => ({
      group: 'admissionregistration.k8s.io',
      version: 'v1',
      plural,
      singular: plural.replace(/ies$/, 'y').replace(/s$/, ''),
      kind:
        plural === 'validatingadmissionpolicies'
          ? 'ValidatingAdmissionPolicy'
          : 'ValidatingAdmissionPolicyBinding',
      namespaced: false,
      status: plural === 'validatingadmissionpolicies',
      builtin: true,
    }),
  ),
  {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    plural: 'customresourcedefinitions',
    singular: 'customresourcedefinition',
    kind: 'CustomResourceDefinition',
    namespaced: false,
    shortNames: ['crd', 'crds'],
    categories: ['api-extensions'],
    status: true,
    builtin: true,
    generation: true,
  },
];

/** Types derived from a stored CRD object (one per served version). */
// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
export function typesFromCrd(crd: any): ResourceType[] {
  const spec = crd?.spec ?? {};
  const names = spec.names ?? {};
  const out: ResourceType[] = [];
  for (const v of spec.versions ?? []) {
    if (v.served === false) continue;
    out.push({
      group: spec.group,
      version: v.name,
      plural: names.plural,
      singular: names.singular ?? String(names.kind ?? '').toLowerCase(),
      kind: names.kind,
      namespaced: spec.scope !== 'Cluster',
      ...(names.shortNames ? { shortNames: names.shortNames } : {}),
      ...(names.categories ? { categories: names.categories } : {}),
      status: !!v.subresources?.status,
      builtin: false,
      printerColumns: v.additionalPrinterColumns ?? [],
      schema: v.schema?.openAPIV3Schema,
      crd: crd.metadata?.name,
      generation: true,
      ...(v.subresources?.scale ? { extraSubresources: ['scale'] } : {}),
      fieldSelectors: (v.selectableFields ?? []).map((f: { jsonPath: string }) =>
        f.jsonPath.replace(/^\./, ''),
      ),
    });
  }
  return out;
}
