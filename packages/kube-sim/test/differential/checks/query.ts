/** Label and field selectors (D9, A12) and Table output (D16, A13). */
import {
  brief,
  type Check,
  check,
  cmPath,
  configMap,
  defaultServiceAccount,
  failure,
  normalize,
  type Obj,
  ok,
  poll,
  sortedNames,
  WIDGETS,
  widget,
  wPath,
} from '../lib.ts';

const TABLE =
  'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';

async function labelled(api: Parameters<Check['run']>[0], ns: string): Promise<void> {
  const set: Array<[string, Record<string, string>]> = [
    ['a', { env: 'prod', tier: 'web' }],
    ['b', { env: 'dev', tier: 'web' }],
    ['c', { env: 'prod' }],
    ['d', {}],
  ];
  for (const [name, labels] of set)
    ok(await api.post(cmPath(ns), configMap(name, {}, { labels: { ...labels, sel: 'yes' } })), name);
}

/** Ages render relative to now ("5s", "0s"): only their shape is compared. */
function cellShape(v: unknown): unknown {
  if (typeof v === 'string' && /^\d+(s|m|h|d)(\d+(s|m|h))?$/.test(v)) return '<age>';
  return v;
}

function tableShape(t: Obj): Obj {
  return {
    kind: t.kind,
    apiVersion: t.apiVersion,
    metaKeys: Object.keys(t.metadata ?? {}).sort(),
    columns: (t.columnDefinitions ?? []).map((c: Obj) => [c.name, c.type, c.format, c.priority]),
    rows: (t.rows ?? []).map((r: Obj) => ({
      cells: (r.cells ?? []).map(cellShape),
      object: r.object && {
        apiVersion: r.object.apiVersion,
        kind: r.object.kind,
        metadata: normalize(r.object.metadata),
      },
    })),
  };
}

export const queryChecks: Check[] = [
  check(
    'selectors/labels',
    'Label selectors: =, ==, !=, in, notin, exists, !exists, and combinations',
    async (api, { ns }) => {
      await labelled(api, ns);
      const out: Record<string, unknown> = {};
      for (const sel of [
        'env=prod',
        'env==prod',
        'env!=prod',
        'env in (prod,dev)',
        'env notin (prod)',
        'tier',
        '!tier',
        'env=prod,tier=web',
        'env in (prod),!tier',
      ]) {
        const r = await api.get(`${cmPath(ns)}?labelSelector=${encodeURIComponent(`sel=yes,${sel}`)}`);
        out[sel] = r.status === 200 ? sortedNames(r.json) : brief(r);
      }
      return out;
    },
  ),

  check(
    'selectors/label-errors',
    'Malformed label selectors: 400 BadRequest with the parser message',
    async (api, { ns }) => {
      const out: Record<string, unknown> = {};
      for (const sel of [
        'env in (prod',
        'env=prod=x',
        '!',
        'a b',
        'env=a/b',
        'Bad_Key!=x',
        'x,',
        ',x',
        'env in ()',
        'env notin (a,,b)',
        'a=(b)',
        'a/b/c',
        'Bad$Key',
        'UPPER.com/x',
        'x=a b',
      ]) {
        out[sel] = brief(await api.get(`${cmPath(ns)}?labelSelector=${encodeURIComponent(sel)}`));
      }
      return out;
    },
  ),

  check(
    'selectors/fields',
    'Field selectors metadata.name and metadata.namespace, = == != and across namespaces',
    async (api, { ns }) => {
      await labelled(api, ns);
      const q = async (path: string, fs: string) =>
        sortedNames(
          (await api.get(`${path}?labelSelector=sel&fieldSelector=${encodeURIComponent(fs)}`)).json,
        );
      return {
        name: await q(cmPath(ns), 'metadata.name=a'),
        nameDoubleEq: await q(cmPath(ns), 'metadata.name==b'),
        notName: await q(cmPath(ns), 'metadata.name!=a'),
        both: await q(cmPath(ns), 'metadata.name!=a,metadata.name!=b'),
        namespace: await q('/api/v1/configmaps', `metadata.namespace=${ns}`),
        otherNamespace: await q('/api/v1/configmaps', 'metadata.namespace=default'),
      };
    },
  ),

  check(
    'selectors/field-errors',
    'Unsupported field selectors: 400 with the upstream message (built-in and CR)',
    async (api, { ns }) => {
      return {
        configMap: brief(await api.get(`${cmPath(ns)}?fieldSelector=spec.foo%3Dbar`)),
        widget: brief(await api.get(`${wPath(ns)}?fieldSelector=spec.size%3D1`)),
        malformed: brief(await api.get(`${cmPath(ns)}?fieldSelector=metadata.name`)),
        pods: brief(await api.get(`/api/v1/namespaces/${ns}/pods?fieldSelector=spec.foo%3Dbar`)),
        serviceAccounts: brief(
          await api.get(`/api/v1/namespaces/${ns}/serviceaccounts?fieldSelector=spec.foo%3Dbar`),
        ),
        leases: brief(
          await api.get(`/apis/coordination.k8s.io/v1/namespaces/${ns}/leases?fieldSelector=spec.foo%3Dbar`),
        ),
        watch: brief(await api.get(`${wPath(ns)}?watch=true&fieldSelector=spec.size%3D1`)),
      };
    },
  ),

  check(
    'selectors/pod-fields',
    'Pods support spec.nodeName, spec.serviceAccountName and status.phase field selectors',
    async (api, { ns }) => {
      await defaultServiceAccount(api, ns);
      ok(
        await api.post(`/api/v1/namespaces/${ns}/pods`, {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'p1' },
          spec: { nodeName: 'no-such-node', containers: [{ name: 'c', image: 'example.com/x:1' }] },
        }),
        'pod',
      );
      const q = async (fs: string) => {
        const r = await api.get(`/api/v1/namespaces/${ns}/pods?fieldSelector=${encodeURIComponent(fs)}`);
        return r.status === 200 ? sortedNames(r.json) : brief(r);
      };
      return {
        node: await q('spec.nodeName=no-such-node'),
        otherNode: await q('spec.nodeName=elsewhere'),
        unscheduled: await q('spec.nodeName='),
        serviceAccount: await q('spec.serviceAccountName=default'),
        pending: await q('status.phase=Pending'),
      };
    },
  ),

  check(
    'table/widgets',
    'Table output of a CR list: printer columns, ages, PartialObjectMetadata rows',
    async (api, { ns }) => {
      ok(await api.post(wPath(ns), widget('w1', { size: 3 })), 'w1');
      ok(
        await api.patch(
          wPath(ns, 'w1', 'status'),
          { status: { phase: 'Ready' } },
          'application/merge-patch+json',
        ),
        'status',
      );
      ok(await api.post(wPath(ns), widget('w2', { size: 5 })), 'w2');
      const list = await api.get(wPath(ns), { accept: TABLE });
      const one = await api.get(wPath(ns, 'w1'), { accept: TABLE });
      const full = await api.get(`${wPath(ns)}?includeObject=Object`, { accept: TABLE });
      return {
        list: [list.status, tableShape(list.json)],
        one: [one.status, tableShape(one.json)],
        fullObjectKind: full.json?.rows?.[0]?.object?.kind,
        fullObjectSpec: full.json?.rows?.[0]?.object?.spec,
      };
    },
  ),

  check(
    'table/builtins',
    'Table output of built-in kinds: column definitions (name, type, format, priority) and cells',
    async (api, { ns }) => {
      await defaultServiceAccount(api, ns);
      const rbac = 'rbac.authorization.k8s.io/v1';
      const sel = { labels: { t: 'y' } };
      const make: Array<[string, string, Obj]> = [
        [
          'configmaps',
          `/api/v1/namespaces/${ns}/configmaps`,
          { metadata: { name: 'x1', ...sel }, data: { a: '1', b: '2' } },
        ],
        [
          'secrets',
          `/api/v1/namespaces/${ns}/secrets`,
          { metadata: { name: 'x1', ...sel }, type: 'Opaque', data: { a: 'eA==' } },
        ],
        ['serviceaccounts', `/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name: 'x1', ...sel } }],
        [
          'services',
          `/api/v1/namespaces/${ns}/services`,
          {
            metadata: { name: 'x1', ...sel },
            spec: {
              clusterIP: 'None',
              selector: { app: 'x' },
              ports: [
                { name: 'ipmi', port: 623, protocol: 'UDP' },
                { name: 'http', port: 80 },
              ],
            },
          },
        ],
        [
          'endpoints',
          `/api/v1/namespaces/${ns}/endpoints`,
          {
            metadata: { name: 'ep1', ...sel },
            subsets: [{ addresses: [{ ip: '10.0.0.1' }], ports: [{ port: 80 }] }],
          },
        ],
        [
          'pods',
          `/api/v1/namespaces/${ns}/pods`,
          {
            metadata: { name: 'x1', ...sel },
            spec: { nodeName: 'no-such-node', containers: [{ name: 'c', image: 'example.com/x:1' }] },
          },
        ],
        [
          'persistentvolumeclaims',
          `/api/v1/namespaces/${ns}/persistentvolumeclaims`,
          {
            metadata: { name: 'x1', ...sel },
            spec: {
              accessModes: ['ReadWriteOnce'],
              resources: { requests: { storage: '1Gi' } },
              storageClassName: 'none',
            },
          },
        ],
        [
          'deployments',
          `/apis/apps/v1/namespaces/${ns}/deployments`,
          {
            metadata: { name: 'x1', ...sel },
            spec: {
              replicas: 0,
              selector: { matchLabels: { app: 'x' } },
              template: {
                metadata: { labels: { app: 'x' } },
                spec: { containers: [{ name: 'c', image: 'example.com/x:1' }] },
              },
            },
          },
        ],
        ['roles', `/apis/${rbac}/namespaces/${ns}/roles`, { metadata: { name: 'x1', ...sel }, rules: [] }],
        [
          'rolebindings',
          `/apis/${rbac}/namespaces/${ns}/rolebindings`,
          {
            metadata: { name: 'x1', ...sel },
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'x1' },
            subjects: [{ kind: 'ServiceAccount', name: 'x1', namespace: ns }],
          },
        ],
        [
          'leases',
          `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`,
          { metadata: { name: 'x1', ...sel }, spec: { holderIdentity: 'me' } },
        ],
      ];
      const out: Record<string, unknown> = {};
      for (const [kind, path, body] of make) {
        const c = await api.post(path, body);
        if (c.status !== 201) {
          out[kind] = { create: c.status, message: c.json?.message };
          continue;
        }
        if (kind === 'deployments')
          // the deployment controller annotates the revision a moment after the create
          await poll(async () => !!(await api.get(`${path}/x1`)).json?.metadata?.annotations, 10_000);
        const r = await api.get(`${path}?labelSelector=t`, { accept: TABLE });
        out[kind] = r.status === 200 ? tableShape(r.json) : failure(r);
      }
      const nsTable = await api.get(`/api/v1/namespaces?fieldSelector=metadata.name%3D${ns}`, {
        accept: TABLE,
      });
      out.namespaces = tableShape(nsTable.json);
      return out;
    },
  ),

  check(
    'table/cluster-crd-list',
    'Table output across namespaces for a CR (Namespace column)',
    async (api, { ns }) => {
      ok(await api.post(wPath(ns), widget('w1', { size: 2 }, { labels: { t: ns } })), 'w1');
      const r = await api.get(`${WIDGETS}/widgets?labelSelector=t%3D${ns}`, { accept: TABLE });
      return { http: r.status, table: tableShape(r.json) };
    },
  ),
];
