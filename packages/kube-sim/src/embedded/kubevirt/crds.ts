/** The CRDs KubeVirt and CDI install, as stored objects (schemas kept open, like upstream's large ones). */

const open = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };

/** What differs between the open-schema CRDs KubeVirt, CDI and their instance types install. */
export interface OpenCrd {
  group: string;
  version: string;
  kind: string;
  plural: string;
  shortNames: string[];
  columns?: object[];
  /** Namespaced unless said. */
  scope?: 'Namespaced' | 'Cluster';
  /** `['all']` unless said. */
  categories?: string[];
  /** Whether the kind has a status (and its subresource); true unless said. */
  status?: boolean;
  /** `app.kubernetes.io/component`: storage for CDI, compute otherwise, unless said. */
  component?: string;
}

/** A CustomResourceDefinition with one served version and an open schema. */
// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
export function openCrd(c: OpenCrd): Record<string, any> {
  const status = c.status ?? true;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${c.plural}.${c.group}`,
      labels: {
        'app.kubernetes.io/component': c.component ?? (c.group.startsWith('cdi') ? 'storage' : 'compute'),
      },
    },
    spec: {
      group: c.group,
      scope: c.scope ?? 'Namespaced',
      names: {
        kind: c.kind,
        plural: c.plural,
        singular: c.kind.toLowerCase(),
        listKind: `${c.kind}List`,
        shortNames: c.shortNames,
        ...(c.categories?.length === 0 ? {} : { categories: c.categories ?? ['all'] }),
      },
      versions: [
        {
          name: c.version,
          served: true,
          storage: true,
          ...(status ? { subresources: { status: {} } } : {}),
          ...(c.columns ? { additionalPrinterColumns: c.columns } : {}),
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: open,
                ...(status ? { status: open } : {}),
              },
            },
          },
        },
      ],
    },
  };
}

function crd(
  group: string,
  version: string,
  kind: string,
  plural: string,
  shortNames: string[],
  columns: object[],
  // biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
): Record<string, any> {
  return openCrd({ group, version, kind, plural, shortNames, columns });
}

export const KUBEVIRT_CRDS = [
  crd(
    'kubevirt.io',
    'v1',
    'VirtualMachine',
    'virtualmachines',
    ['vm', 'vms'],
    [
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
      {
        name: 'Status',
        type: 'string',
        jsonPath: '.status.printableStatus',
        description: 'Human Readable Status',
      },
      { name: 'Ready', type: 'string', jsonPath: ".status.conditions[?(@.type=='Ready')].status" },
    ],
  ),
  crd(
    'kubevirt.io',
    'v1',
    'VirtualMachineInstance',
    'virtualmachineinstances',
    ['vmi', 'vmis'],
    [
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'IP', type: 'string', jsonPath: '.status.interfaces[0].ipAddress' },
      { name: 'NodeName', type: 'string', jsonPath: '.status.nodeName' },
      { name: 'Ready', type: 'string', jsonPath: ".status.conditions[?(@.type=='Ready')].status" },
      {
        name: 'Live-Migratable',
        type: 'string',
        jsonPath: ".status.conditions[?(@.type=='LiveMigratable')].status",
        priority: 1,
      },
      {
        name: 'Paused',
        type: 'string',
        jsonPath: ".status.conditions[?(@.type=='Paused')].status",
        priority: 1,
      },
    ],
  ),
  crd(
    'cdi.kubevirt.io',
    'v1beta1',
    'DataVolume',
    'datavolumes',
    ['dv', 'dvs'],
    [
      {
        name: 'Phase',
        type: 'string',
        jsonPath: '.status.phase',
        description: 'The phase the data volume is in',
      },
      {
        name: 'Progress',
        type: 'string',
        jsonPath: '.status.progress',
        description: 'Transfer progress in percentage if known, N/A otherwise',
      },
      {
        name: 'Restarts',
        type: 'integer',
        jsonPath: '.status.restartCount',
        description: 'The number of times the transfer has been restarted.',
      },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
  ),
];

export const SUBRESOURCE_GROUP = {
  group: 'subresources.kubevirt.io',
  version: 'v1',
  resources: [
    ...['start', 'stop', 'restart', 'addvolume', 'removevolume'].map((s) => ({
      name: `virtualmachines/${s}`,
      namespaced: true,
      kind: 'VirtualMachine',
      verbs: ['update'],
    })),
    ...['pause', 'unpause', 'softreboot', 'reset'].map((s) => ({
      name: `virtualmachineinstances/${s}`,
      namespaced: true,
      kind: 'VirtualMachineInstance',
      verbs: ['update'],
    })),
    ...['console', 'guestosinfo'].map((s) => ({
      name: `virtualmachineinstances/${s}`,
      namespaced: true,
      kind: 'VirtualMachineInstance',
      verbs: ['get'],
    })),
  ],
};
