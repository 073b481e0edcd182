/**
 * Nodes and pod binding, as the fake node and a scheduler use them: a Node registered with its
 * status (admission's not-ready taint, then the node lifecycle and TTL controllers' changes once
 * it is Ready), its Table, and `pods/binding` with its refusals. kube-controller-manager is
 * asynchronous, so the Node check polls with a bounded wait.
 */
import { brief, type Check, check, defaultServiceAccount, type Obj, ok, poll } from '../lib.ts';

const TABLE =
  'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';

function stamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function nodeBody(name: string, ns: string): Obj {
  const t = stamp();
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubevirtbmc.io/check': ns, 'node-role.kubernetes.io/worker': '' } },
    spec: { podCIDR: '10.89.0.0/24' },
    status: {
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'kubelet is posting ready status',
          lastHeartbeatTime: t,
          lastTransitionTime: t,
        },
      ],
      capacity: { cpu: '4', memory: '8Gi', pods: '110' },
      allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
      addresses: [
        { type: 'InternalIP', address: '127.0.0.1' },
        { type: 'Hostname', address: name },
      ],
      nodeInfo: { kubeletVersion: 'v1.37.2', osImage: 'Check OS', operatingSystem: 'linux' },
    },
  };
}

function shape(o: Obj | undefined): Obj | undefined {
  return o && { metadata: o.metadata, spec: o.spec, status: o.status };
}

const pod = (name: string): Obj => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  // no scheduler of this name runs: the pod is bound by the check alone
  spec: { schedulerName: 'kubevirtbmc-check', containers: [{ name: 'c', image: 'example.com/x:1' }] },
});

const binding = (name: string, node: string, kind = 'Node'): Obj => ({
  apiVersion: 'v1',
  kind: 'Binding',
  metadata: { name },
  target: { apiVersion: 'v1', kind, name: node },
});

export const nodeChecks: Check[] = [
  check(
    'nodes/register',
    'A Node registered with its status: defaults and the not-ready taint, then untainted and annotated once Ready; Table; delete',
    async (api, { ns }) => {
      const name = `${ns}-node`;
      const created = ok(await api.post('/api/v1/nodes', nodeBody(name, ns)), 'create Node');
      const settled = await poll(async () => {
        const n = (await api.get(`/api/v1/nodes/${name}`)).json;
        return !n?.spec?.taints && n?.metadata?.annotations?.['node.alpha.kubernetes.io/ttl'] ? n : undefined;
      }, 20_000);
      const table = await api.get(`/api/v1/nodes?labelSelector=kubevirtbmc.io%2Fcheck%3D${ns}`, {
        accept: TABLE,
      });
      const del = await api.del(`/api/v1/nodes/${name}`);
      return {
        created: shape(created),
        settled: shape(settled),
        columns: ((table.json?.columnDefinitions ?? []) as Obj[]).map((c) => [c.name, c.type, c.priority]),
        // the Age cell differs by the clock
        rows: ((table.json?.rows ?? []) as Obj[]).map((r) =>
          (r.cells as unknown[]).filter((_, i) => i !== 3),
        ),
        delete: { http: del.status, kind: del.json?.kind, details: del.json?.details },
      };
    },
  ),

  check(
    'pods/binding',
    'POST pods/<name>/binding: 201 Status, nodeName and PodScheduled set; bound again 409; missing pod 404; other name 400; other kind 500',
    async (api, { ns }) => {
      await defaultServiceAccount(api, ns);
      const node = `${ns}-node`;
      const path = `/api/v1/namespaces/${ns}/pods`;
      ok(await api.post(path, pod('p1')), 'create pod');
      const before = (await api.get(`${path}/p1`)).json;
      const bound = await api.post(`${path}/p1/binding`, binding('p1', node));
      const after = (await api.get(`${path}/p1`)).json;
      return {
        before: { nodeName: before?.spec?.nodeName ?? null, conditions: before?.status?.conditions ?? null },
        bound: { http: bound.status, body: bound.json },
        after: {
          nodeName: after?.spec?.nodeName,
          phase: after?.status?.phase,
          conditions: after?.status?.conditions,
          generation: after?.metadata?.generation,
        },
        again: brief(await api.post(`${path}/p1/binding`, binding('p1', 'elsewhere'))),
        againDetails: (await api.post(`${path}/p1/binding`, binding('p1', 'elsewhere'))).json?.details,
        missing: brief(await api.post(`${path}/ghost/binding`, binding('ghost', node))),
        otherName: brief(await api.post(`${path}/p1/binding`, binding('p2', node))),
        otherKind: brief(await api.post(`${path}/p1/binding`, binding('p1', node, 'Pod'))),
      };
    },
  ),
];
