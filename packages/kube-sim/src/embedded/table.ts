/** Table rendering (Accept: application/json;as=Table;g=meta.k8s.io;v=v1) and a small JSONPath. */
import type { ResourceType } from './resources.ts';
import type { Obj } from './store.ts';

/** Evaluates the JSONPath subset printer columns use: .a.b, .a[0], .a[*].b, .a[?(@.k=='v')].b */
export function jsonPath(obj: unknown, path: string): unknown[] {
  let cur: unknown[] = [obj];
  const p = path.replace(/^\{|\}$/g, '').replace(/^\$/, '');
  const re = /\.([A-Za-z0-9_-]+)|\[(\d+|\*)\]|\[\?\(@\.([A-Za-z0-9_.-]+)\s*==\s*['"]([^'"]*)['"]\)\]/g;
  let m: RegExpExecArray | null;
  for (;;) {
    m = re.exec(p);
    if (!m) break;
    const next: unknown[] = [];
    for (const c of cur) {
      if (c === null || typeof c !== 'object') continue;
      if (m[1] !== undefined) {
        const v = (c as Obj)[m[1]];
        if (v !== undefined) next.push(v);
      } else if (m[2] !== undefined) {
        if (!Array.isArray(c)) continue;
        if (m[2] === '*') next.push(...c);
        else if (c[Number(m[2])] !== undefined) next.push(c[Number(m[2])]);
      } else if (m[3] !== undefined) {
        if (!Array.isArray(c)) continue;
        for (const item of c) {
          let v: unknown = item;
          for (const k of m[3].split('.')) v = v && typeof v === 'object' ? (v as Obj)[k] : undefined;
          if (String(v) === m[4]) next.push(item);
        }
      }
    }
    cur = next;
  }
  return cur;
}

export function age(ts: string | undefined): string {
  if (!ts) return '<unknown>';
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/** A column of a built-in kind's table, as kube-apiserver's printers define it, with its cell. */
interface BuiltinColumn {
  name: string;
  type: string;
  format?: string;
  priority?: number;
  description?: string;
  cell: (o: Obj) => unknown;
}

const NAME_DESCRIPTION =
  'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names';
const AGE_DESCRIPTION =
  'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata';

const nameCol = (priority = 0): BuiltinColumn => ({
  name: 'Name',
  type: 'string',
  format: 'name',
  priority,
  description: NAME_DESCRIPTION,
  cell: (o) => o.metadata?.name,
});
const ageCol: BuiltinColumn = {
  name: 'Age',
  type: 'string',
  description: AGE_DESCRIPTION,
  cell: (o) => age(o.metadata?.creationTimestamp),
};
const createdAtCol: BuiltinColumn = {
  name: 'Created At',
  type: 'date',
  description: AGE_DESCRIPTION,
  cell: (o) => o.metadata?.creationTimestamp,
};
const col = (name: string, cell: (o: Obj) => unknown, type = 'string', priority = 0): BuiltinColumn => ({
  name,
  type,
  priority,
  cell,
});

const none = (v: unknown) => (v === undefined || v === null || v === '' ? '<none>' : v);
const selectorOf = (labels: Record<string, string> | undefined) =>
  Object.entries(labels ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join(',') || '<none>';
const containers = (spec: Obj | undefined) => (spec?.containers ?? []) as Obj[];
const ACCESS_MODES: Record<string, string> = {
  ReadWriteOnce: 'RWO',
  ReadOnlyMany: 'ROX',
  ReadWriteMany: 'RWX',
  ReadWriteOncePod: 'RWOP',
};

function podStatus(o: Obj): string {
  if (o.metadata?.deletionTimestamp) return 'Terminating';
  const waiting = (o.status?.containerStatuses ?? []).find((c: Obj) => c.state?.waiting?.reason);
  if (waiting) return waiting.state.waiting.reason;
  const terminated = (o.status?.containerStatuses ?? []).find((c: Obj) => c.state?.terminated?.reason);
  if (terminated) return terminated.state.terminated.reason;
  return o.status?.reason ?? o.status?.phase ?? 'Pending';
}

function servicePorts(o: Obj): string {
  const ports = (o.spec?.ports ?? []) as Obj[];
  if (!ports.length) return '<none>';
  return ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(',');
}

function endpointsCell(o: Obj): string {
  const out: string[] = [];
  for (const s of (o.subsets ?? []) as Obj[])
    for (const a of (s.addresses ?? []) as Obj[])
      for (const p of (s.ports ?? [{}]) as Obj[]) out.push(p.port ? `${a.ip}:${p.port}` : a.ip);
  if (!out.length) return '<none>';
  return out.length > 3 ? `${out.slice(0, 3).join(',')} + ${out.length - 3} more...` : out.join(',');
}

function subjects(o: Obj, kind: string): string {
  return ((o.subjects ?? []) as Obj[])
    .filter((s) => s.kind === kind)
    .map((s) => (kind === 'ServiceAccount' ? `${s.namespace ?? ''}/${s.name}` : s.name))
    .join(', ');
}

const eventColumns: BuiltinColumn[] = [
  col('Last Seen', (o) =>
    age(o.lastTimestamp ?? o.eventTime ?? o.deprecatedLastTimestamp ?? o.metadata?.creationTimestamp),
  ),
  col('Type', (o) => o.type),
  col('Reason', (o) => o.reason),
  col('Object', (o) => {
    const ref = o.involvedObject ?? o.regarding ?? {};
    return `${String(ref.kind ?? '').toLowerCase()}/${ref.name ?? ''}`;
  }),
  col('Subobject', (o) => (o.involvedObject ?? o.regarding)?.fieldPath ?? '', 'string', 1),
  col(
    'Source',
    (o) =>
      [
        o.source?.component ?? o.reportingController ?? o.reportingComponent,
        o.source?.host ?? o.reportingInstance,
      ]
        .filter(Boolean)
        .join(', '),
    'string',
    1,
  ),
  col('Message', (o) => o.message ?? o.note),
  col(
    'First Seen',
    (o) => age(o.firstTimestamp ?? o.eventTime ?? o.metadata?.creationTimestamp),
    'string',
    1,
  ),
  col('Count', (o) => o.count ?? o.series?.count ?? 1, 'string', 1),
  nameCol(1),
];

const bindingColumns: BuiltinColumn[] = [
  nameCol(),
  col('Role', (o) => `${o.roleRef?.kind}/${o.roleRef?.name}`),
  ageCol,
  col('Users', (o) => subjects(o, 'User'), 'string', 1),
  col('Groups', (o) => subjects(o, 'Group'), 'string', 1),
  col('ServiceAccounts', (o) => subjects(o, 'ServiceAccount'), 'string', 1),
];

const workloadWide = (spec: (o: Obj) => Obj | undefined): BuiltinColumn[] => [
  col(
    'Containers',
    (o) =>
      containers(spec(o))
        .map((c) => c.name)
        .join(','),
    'string',
    1,
  ),
  col(
    'Images',
    (o) =>
      containers(spec(o))
        .map((c) => c.image)
        .join(','),
    'string',
    1,
  ),
  col('Selector', (o) => selectorOf(o.spec?.selector?.matchLabels), 'string', 1),
];

/** A Node's first address of a type, or `<none>`. */
function nodeAddress(o: Obj, type: string): string {
  return ((o.status?.addresses ?? []) as Obj[]).find((a) => a.type === type)?.address ?? '<none>';
}

/** The columns of kube-apiserver's printers for the built-in kinds served here. */
function builtinColumns(t: ResourceType): BuiltinColumn[] {
  switch (`${t.group}/${t.plural}`) {
    case '/pods':
      return [
        nameCol(),
        col('Ready', (o) => {
          const cs = (o.status?.containerStatuses ?? []) as Obj[];
          return `${cs.filter((c) => c.ready).length}/${containers(o.spec).length}`;
        }),
        col('Status', podStatus),
        col('Restarts', (o) =>
          String(
            ((o.status?.containerStatuses ?? []) as Obj[]).reduce((n, c) => n + (c.restartCount ?? 0), 0),
          ),
        ),
        ageCol,
        col('IP', (o) => none(o.status?.podIP), 'string', 1),
        col('Node', (o) => none(o.spec?.nodeName), 'string', 1),
        col('Nominated Node', (o) => none(o.status?.nominatedNodeName), 'string', 1),
        col(
          'Readiness Gates',
          (o) => {
            const gates = (o.spec?.readinessGates ?? []) as Obj[];
            return gates.length ? `0/${gates.length}` : '<none>';
          },
          'string',
          1,
        ),
      ];
    case 'apps/deployments':
      return [
        nameCol(),
        col('Ready', (o) => `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 1}`),
        col('Up-to-date', (o) => o.status?.updatedReplicas ?? 0),
        col('Available', (o) => o.status?.availableReplicas ?? 0),
        ageCol,
        ...workloadWide((o) => o.spec?.template?.spec),
      ];
    case 'apps/replicasets':
      return [
        nameCol(),
        col('Desired', (o) => o.spec?.replicas ?? 1, 'integer'),
        col('Current', (o) => o.status?.replicas ?? 0, 'integer'),
        col('Ready', (o) => o.status?.readyReplicas ?? 0, 'integer'),
        ageCol,
        ...workloadWide((o) => o.spec?.template?.spec),
      ];
    case '/services':
      return [
        nameCol(),
        col('Type', (o) => o.spec?.type ?? 'ClusterIP'),
        col('Cluster-IP', (o) => none(o.spec?.clusterIP)),
        col('External-IP', (o) => {
          const ips = [
            ...((o.status?.loadBalancer?.ingress ?? []) as Obj[]).map((i) => i.ip ?? i.hostname),
            ...((o.spec?.externalIPs ?? []) as string[]),
          ];
          return ips.length ? ips.join(',') : o.spec?.type === 'LoadBalancer' ? '<pending>' : '<none>';
        }),
        col('Port(s)', servicePorts),
        ageCol,
        col('Selector', (o) => selectorOf(o.spec?.selector), 'string', 1),
      ];
    case '/configmaps':
      return [nameCol(), col('Data', (o) => Object.keys({ ...o.data, ...o.binaryData }).length), ageCol];
    case '/secrets':
      return [
        nameCol(),
        col('Type', (o) => o.type),
        col('Data', (o) => Object.keys(o.data ?? {}).length),
        ageCol,
      ];
    case '/serviceaccounts':
      return [nameCol(), ageCol];
    case '/endpoints':
      return [nameCol(), col('Endpoints', endpointsCell), ageCol];
    case '/events':
    case 'events.k8s.io/events':
      return eventColumns;
    case '/persistentvolumeclaims':
      return [
        nameCol(),
        col('Status', (o) => o.status?.phase ?? ''),
        col('Volume', (o) => o.spec?.volumeName ?? ''),
        col('Capacity', (o) => o.status?.capacity?.storage ?? ''),
        col('Access Modes', (o) =>
          ((o.status?.accessModes ?? []) as string[]).map((m) => ACCESS_MODES[m] ?? m).join(','),
        ),
        col('StorageClass', (o) => o.spec?.storageClassName ?? ''),
        col('VolumeAttributesClass', (o) => o.spec?.volumeAttributesClassName ?? '<unset>'),
        ageCol,
        col('VolumeMode', (o) => o.spec?.volumeMode ?? '<unset>', 'string', 1),
      ];
    case '/nodes':
      return [
        nameCol(),
        col('Status', (o) => {
          const ready = ((o.status?.conditions ?? []) as Obj[]).find((c) => c.type === 'Ready')?.status;
          const state = ready === 'True' ? 'Ready' : ready === 'False' ? 'NotReady' : 'Unknown';
          return o.spec?.unschedulable ? `${state},SchedulingDisabled` : state;
        }),
        col('Roles', (o) => {
          const roles = Object.keys(o.metadata?.labels ?? {})
            .filter((k) => k.startsWith('node-role.kubernetes.io/'))
            .map((k) => k.slice('node-role.kubernetes.io/'.length))
            .filter(Boolean)
            .sort();
          return roles.length ? roles.join(',') : '<none>';
        }),
        ageCol,
        col('Version', (o) => o.status?.nodeInfo?.kubeletVersion ?? ''),
        col('Internal-IP', (o) => nodeAddress(o, 'InternalIP'), 'string', 1),
        col('External-IP', (o) => nodeAddress(o, 'ExternalIP'), 'string', 1),
        col('OS-Image', (o) => o.status?.nodeInfo?.osImage || '<unknown>', 'string', 1),
        col('Kernel-Version', (o) => o.status?.nodeInfo?.kernelVersion || '<unknown>', 'string', 1),
        col(
          'Container-Runtime',
          (o) => o.status?.nodeInfo?.containerRuntimeVersion || '<unknown>',
          'string',
          1,
        ),
      ];
    case '/persistentvolumes':
      return [
        nameCol(),
        col('Capacity', (o) => o.spec?.capacity?.storage ?? ''),
        col('Access Modes', (o) =>
          ((o.spec?.accessModes ?? []) as string[]).map((m) => ACCESS_MODES[m] ?? m).join(','),
        ),
        col('Reclaim Policy', (o) => o.spec?.persistentVolumeReclaimPolicy ?? ''),
        col('Status', (o) => o.status?.phase ?? ''),
        col('Claim', (o) => (o.spec?.claimRef ? `${o.spec.claimRef.namespace}/${o.spec.claimRef.name}` : '')),
        col('StorageClass', (o) => o.spec?.storageClassName ?? ''),
        col('VolumeAttributesClass', (o) => o.spec?.volumeAttributesClassName ?? '<unset>'),
        col('Reason', (o) => o.status?.reason ?? ''),
        ageCol,
        col('VolumeMode', (o) => o.spec?.volumeMode ?? '<unset>', 'string', 1),
      ];
    case '/namespaces':
      return [nameCol(), col('Status', (o) => o.status?.phase), ageCol];
    case 'coordination.k8s.io/leases':
      return [nameCol(), col('Holder', (o) => o.spec?.holderIdentity ?? ''), ageCol];
    case 'rbac.authorization.k8s.io/roles':
    case 'rbac.authorization.k8s.io/clusterroles':
      return [nameCol(), createdAtCol];
    case 'rbac.authorization.k8s.io/rolebindings':
    case 'rbac.authorization.k8s.io/clusterrolebindings':
      return bindingColumns;
    case 'apiextensions.k8s.io/customresourcedefinitions':
      return [
        nameCol(),
        col('Scope', (o) => o.spec?.scope),
        col('Versions', (o) =>
          ((o.spec?.versions ?? []) as Obj[])
            .map((v) => `${v.name}${v.storage ? '(storage)' : ''}`)
            .join(','),
        ),
        createdAtCol,
        col('Group', (o) => o.spec?.group, 'string', 1),
        col('Kind', (o) => o.spec?.names?.kind, 'string', 1),
        col('ShortNames', (o) => (o.spec?.names?.shortNames ?? []).join(','), 'string', 1),
        col(
          'Established',
          (o) =>
            ((o.status?.conditions ?? []) as Obj[]).some(
              (c) => c.type === 'Established' && c.status === 'True',
            ),
          'boolean',
          1,
        ),
      ];
    default:
      return [nameCol(), ageCol];
  }
}

export function toTable(
  t: ResourceType,
  items: Obj[],
  resourceVersion: string,
  includeObject: string | null,
): Obj {
  const object = (o: Obj) =>
    includeObject === 'Object'
      ? o
      : includeObject === 'None'
        ? undefined
        : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
  if (t.builtin) {
    const cols = builtinColumns(t);
    return {
      kind: 'Table',
      apiVersion: 'meta.k8s.io/v1',
      metadata: { resourceVersion },
      columnDefinitions: cols.map((c) => ({
        name: c.name,
        type: c.type,
        format: c.format ?? '',
        description: c.description ?? '',
        priority: c.priority ?? 0,
      })),
      rows: items.map((o) => {
        const obj = object(o);
        return { cells: cols.map((c) => c.cell(o) ?? null), ...(obj ? { object: obj } : {}) };
      }),
    };
  }
  // custom resources: Name, the CRD's printer columns (a missing value is null), then Age
  const cols = t.printerColumns ?? [];
  const defs = [
    { name: 'Name', type: 'string', format: 'name', description: NAME_DESCRIPTION, priority: 0 },
    ...cols.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? '',
      description: c.description ?? '',
      priority: c.priority ?? 0,
    })),
  ];
  const hasAge = cols.some((c) => c.name === 'Age');
  if (!hasAge)
    defs.push({ name: 'Age', type: 'date', format: '', description: AGE_DESCRIPTION, priority: 0 });
  const rows = items.map((o) => {
    const cells: unknown[] = [o.metadata?.name];
    for (const c of cols) {
      const vals = c.jsonPath ? jsonPath(o, c.jsonPath) : [];
      let v: unknown = vals.length === 0 ? null : vals.length === 1 ? vals[0] : vals.join(',');
      if (c.type === 'date' && typeof v === 'string') v = age(v);
      if (v !== null && typeof v === 'object') v = JSON.stringify(v);
      cells.push(v);
    }
    if (!hasAge) cells.push(age(o.metadata?.creationTimestamp));
    const obj = object(o);
    return { cells, ...(obj ? { object: obj } : {}) };
  });
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: defs,
    rows,
  };
}
