/** Table rendering (Accept: application/json;as=Table;g=meta.k8s.io;v=v1) and a small JSONPath. */
import type { PrinterColumn, ResourceType } from './resources.ts';
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

function builtinColumns(t: ResourceType): PrinterColumn[] {
  switch (`${t.group}/${t.plural}`) {
    case '/pods':
      return [
        { name: 'Ready', type: 'string', jsonPath: '' },
        { name: 'Status', type: 'string', jsonPath: '.status.phase' },
        { name: 'Restarts', type: 'integer', jsonPath: '.status.containerStatuses[0].restartCount' },
      ];
    case 'apps/deployments':
      return [
        { name: 'Ready', type: 'string', jsonPath: '' },
        { name: 'Up-to-date', type: 'integer', jsonPath: '.status.updatedReplicas' },
        { name: 'Available', type: 'integer', jsonPath: '.status.availableReplicas' },
      ];
    case '/services':
      return [
        { name: 'Type', type: 'string', jsonPath: '.spec.type' },
        { name: 'Cluster-IP', type: 'string', jsonPath: '.spec.clusterIP' },
        { name: 'External-IP', type: 'string', jsonPath: '.spec.externalIPs' },
        { name: 'Port(s)', type: 'string', jsonPath: '' },
      ];
    case 'apps/replicasets':
      return [
        { name: 'Desired', type: 'integer', jsonPath: '.spec.replicas' },
        { name: 'Current', type: 'integer', jsonPath: '.status.replicas' },
        { name: 'Ready', type: 'integer', jsonPath: '.status.readyReplicas' },
      ];
    case '/events':
      return [
        { name: 'Last Seen', type: 'date', jsonPath: '.lastTimestamp' },
        { name: 'Type', type: 'string', jsonPath: '.type' },
        { name: 'Reason', type: 'string', jsonPath: '.reason' },
        { name: 'Object', type: 'string', jsonPath: '' },
        { name: 'Message', type: 'string', jsonPath: '.message' },
      ];
    case '/persistentvolumeclaims':
      return [
        { name: 'Status', type: 'string', jsonPath: '.status.phase' },
        { name: 'Capacity', type: 'string', jsonPath: '.status.capacity.storage' },
        { name: 'StorageClass', type: 'string', jsonPath: '.spec.storageClassName' },
      ];
    case '/namespaces':
      return [{ name: 'Status', type: 'string', jsonPath: '.status.phase' }];
    case 'coordination.k8s.io/leases':
      return [{ name: 'Holder', type: 'string', jsonPath: '.spec.holderIdentity' }];
    default:
      return [];
  }
}

function special(t: ResourceType, col: PrinterColumn, o: Obj): unknown {
  const key = `${t.group}/${t.plural}`;
  if (key === '/pods' && col.name === 'Ready') {
    const cs = o.status?.containerStatuses ?? [];
    return `${cs.filter((c: Obj) => c.ready).length}/${(o.spec?.containers ?? []).length}`;
  }
  if (key === 'apps/deployments' && col.name === 'Ready')
    return `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 1}`;
  if (key === '/events' && col.name === 'Object') {
    return `${String(o.involvedObject?.kind ?? '').toLowerCase()}/${o.involvedObject?.name ?? ''}`;
  }
  if (key === '/services' && col.name === 'Port(s)') {
    return (o.spec?.ports ?? []).map((p: Obj) => `${p.port}/${p.protocol ?? 'TCP'}`).join(',') || '<none>';
  }
  return undefined;
}

export function toTable(
  t: ResourceType,
  items: Obj[],
  resourceVersion: string,
  includeObject: string | null,
  priority = true,
): Obj {
  const cols = t.builtin ? builtinColumns(t) : (t.printerColumns ?? []);
  const defs = [
    {
      name: 'Name',
      type: 'string',
      format: 'name',
      description: 'Name must be unique within a namespace.',
      priority: t.builtin && t.plural === 'events' ? 1 : 0,
    },
    ...cols.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? '',
      description: c.description ?? '',
      priority: c.priority ?? 0,
    })),
  ];
  const hasAge = cols.some((c) => c.name === 'Age') || (t.builtin && t.plural === 'events');
  if (!hasAge)
    defs.push({ name: 'Age', type: 'date', format: '', description: 'CreationTimestamp', priority: 0 });
  void priority;
  const rows = items.map((o) => {
    const cells: unknown[] = [o.metadata?.name];
    for (const c of cols) {
      const sp = special(t, c, o);
      if (sp !== undefined) {
        cells.push(sp);
        continue;
      }
      const vals = c.jsonPath ? jsonPath(o, c.jsonPath) : [];
      let v: unknown = vals.length === 0 ? null : vals.length === 1 ? vals[0] : vals.join(',');
      if (c.type === 'date' && typeof v === 'string') v = age(v);
      if (v !== null && typeof v === 'object') v = JSON.stringify(v);
      cells.push(v ?? (c.type === 'integer' || c.type === 'number' ? (t.builtin ? 0 : null) : '<none>'));
    }
    if (!hasAge) cells.push(age(o.metadata?.creationTimestamp));
    const object =
      includeObject === 'Object'
        ? o
        : includeObject === 'None'
          ? undefined
          : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
    return { cells, ...(object ? { object } : {}) };
  });
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: defs,
    rows,
  };
}
