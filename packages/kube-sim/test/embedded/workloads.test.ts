// Deployments, the kubelet running agent-image pods, Service endpoints on 127.0.0.1, and RBAC for
// ServiceAccount tokens (the contract in the lead's contracts.md).
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { kubeConfigFor } from '../../../../test/support/sim-fixtures.ts';
import { SimHttp, vmManifest, simWait as waitFor } from '../../../../test/support/sim-kubevirt.ts';
import { type SimCluster, startSimCluster } from '../../src/embedded/index.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
type Obj = Record<string, any>;
const NS = 'default';
const STUB = new URL('../../../../test/support/sim-agent-stub.mjs', import.meta.url).pathname;
let cluster: SimCluster;
let http: SimHttp;
let core: k8s.CoreV1Api;

function udpEcho(hostPort: string, text: string): Promise<string> {
  const [host, port] = hostPort.split(':');
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error('no UDP reply'));
    }, 2000);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m.toString());
    });
    s.send(text, Number(port), host);
  });
}

const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'bmc' },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: 'bmc' } },
    template: {
      metadata: { labels: { app: 'bmc' } },
      spec: {
        serviceAccountName: 'bmc-agent',
        containers: [
          {
            name: 'agent',
            image: 'registry.example:5000/org/kubevirtbmc@sha256:abc',
            command: ['/ignored'],
            args: ['agent', '--vm', 'vm1'],
            env: [
              { name: 'STUB_FIXED', value: 'hello' },
              { name: 'STUB_POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'STUB_NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
              { name: 'STUB_SA', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
              { name: 'STUB_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
              { name: 'STUB_PASSWORD', valueFrom: { secretKeyRef: { name: 'bmc-auth', key: 'password' } } },
            ],
            ports: [
              { name: 'ipmi', containerPort: 10623, protocol: 'UDP' },
              { name: 'redfish', containerPort: 10080, protocol: 'TCP' },
            ],
            readinessProbe: { httpGet: { path: '/readyz', port: 'redfish' } },
          },
        ],
      },
    },
  },
};

before(async () => {
  cluster = await startSimCluster({ timing: 'fast', agentCommand: [process.execPath, STUB] });
  http = new SimHttp(cluster);
  core = kubeConfigFor(cluster.kubeconfigPath).makeApiClient(k8s.CoreV1Api);
});
after(async () => {
  await cluster?.stop();
});

describe('kubelet and services', () => {
  test('an agent-image pod runs as a process with its args, env, SA kubeconfig and mapped ports; the Service records host endpoints', async () => {
    await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: 'bmc-agent' } } });
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: 'bmc-auth' }, stringData: { password: 's3cret' } },
    });
    await http.req('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, deployment);
    await core.createNamespacedService({
      namespace: NS,
      body: {
        metadata: { name: 'bmc' },
        spec: {
          selector: { app: 'bmc' },
          ports: [
            { name: 'ipmi', port: 623, protocol: 'UDP', targetPort: 'ipmi' },
            { name: 'http', port: 80, targetPort: 'redfish' },
          ],
        },
      },
    });
    const eps = await waitFor(
      () => {
        const e = cluster.serviceEndpoints(NS, 'bmc');
        return e['623/UDP'] && e['80/TCP'] ? e : undefined;
      },
      { what: 'service endpoints' },
    );
    assert.match(eps['623/UDP']!, /^127\.0\.0\.1:\d+$/);
    const svc = await core.readNamespacedService({ namespace: NS, name: 'bmc' });
    assert.match(svc.spec!.clusterIP!, /^10\.(9[6-9]|10\d|11[01])\.\d+\.\d+$/);
    await waitFor(
      async () =>
        (await core.readNamespacedService({ namespace: NS, name: 'bmc' })).metadata!.annotations?.[
          'sim.kubevirtbmc.io/endpoints'
        ] === JSON.stringify(eps),
      { what: 'annotation' },
    );
    const info = (await waitFor(
      async () => {
        try {
          return await (await fetch(`http://${eps['80/TCP']}/anything`)).json();
        } catch {
          return undefined;
        }
      },
      { what: 'agent HTTP reachable' },
    )) as Obj;
    assert.deepEqual(info.args, ['agent', '--vm', 'vm1']);
    const pods = await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=bmc' });
    const pod = pods.items[0]!;
    assert.equal(info.env.STUB_FIXED, 'hello');
    assert.equal(info.env.STUB_POD, pod.metadata!.name);
    assert.equal(info.env.STUB_NS, NS);
    assert.equal(info.env.STUB_SA, 'bmc-agent');
    assert.equal(info.env.STUB_IP, '127.0.0.1');
    assert.equal(info.env.STUB_PASSWORD, 's3cret');
    assert.equal(info.env.POD_IP, '127.0.0.1');
    const map = JSON.parse(info.env.KUBEVIRTBMC_SIM_PORT_MAP);
    assert.deepEqual(Object.keys(map).sort(), ['10080/TCP', '10623/UDP']);
    assert.equal(`127.0.0.1:${map['10623/UDP']}`, eps['623/UDP']);
    // the pod's kubeconfig authenticates as its ServiceAccount (403 without RBAC, not 401)
    const saCore = kubeConfigFor(info.env.KUBECONFIG).makeApiClient(k8s.CoreV1Api);
    await assert.rejects(
      saCore.listNamespacedSecret({ namespace: NS }),
      (e: k8s.ApiException<string>) =>
        e.code === 403 && /system:serviceaccount:default:bmc-agent/.test(e.body),
    );
    assert.equal(await udpEcho(eps['623/UDP']!, 'ping'), 'ping');
    await waitFor(
      async () =>
        (await core.readNamespacedPod({ namespace: NS, name: pod.metadata!.name! })).status?.conditions?.some(
          (c) => c.type === 'Ready' && c.status === 'True',
        ),
      { what: 'Ready via readiness probe' },
    );
    const d = await waitFor(
      async () => {
        const x = (await http.req('GET', `/apis/apps/v1/namespaces/${NS}/deployments/bmc`)).json;
        return x.status?.readyReplicas === 1 ? x : undefined;
      },
      { what: 'deployment ready' },
    );
    assert.equal(d.status.availableReplicas, 1);
    const log = await http.req('GET', `/api/v1/namespaces/${NS}/pods/${pod.metadata!.name}/log`);
    assert.match(log.text, /stub agent started with args \["agent","--vm","vm1"\]/);
  });

  test('a process exit restarts the container with backoff and the same ports; pod deletion sends SIGTERM', async () => {
    const pod = (await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=bmc' })).items[0]!;
    const eps = cluster.serviceEndpoints(NS, 'bmc');
    await fetch(`http://${eps['80/TCP']}/exit`).then((r) => r.text());
    await waitFor(
      async () => {
        const p = await core.readNamespacedPod({ namespace: NS, name: pod.metadata!.name! });
        const cs = p.status?.containerStatuses?.[0];
        return cs?.restartCount === 1 && cs.state?.running;
      },
      { what: 'restarted' },
    );
    await waitFor(
      async () => {
        try {
          return (await fetch(`http://${eps['80/TCP']}/x`)).ok;
        } catch {
          return false;
        }
      },
      { what: 'serving again on the same port' },
    );
    await core.deleteNamespacedPod({ namespace: NS, name: pod.metadata!.name! });
    await waitFor(
      async () => {
        try {
          await core.readNamespacedPod({ namespace: NS, name: pod.metadata!.name! });
          return false;
        } catch (e) {
          return (e as k8s.ApiException<string>).code === 404;
        }
      },
      { what: 'pod gone after SIGTERM' },
    );
    const replacement = await waitFor(
      async () =>
        (await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=bmc' })).items.find(
          (p) => p.metadata!.name !== pod.metadata!.name && p.status?.phase === 'Running',
        ),
      { what: 'replacement pod' },
    );
    assert.ok(replacement);
  });
});

describe('RBAC for ServiceAccount tokens', () => {
  test('Role/RoleBinding with resourceNames and subresources; 403 Status otherwise', async () => {
    await http.req(
      'POST',
      `/apis/kubevirt.io/v1/namespaces/${NS}/virtualmachines`,
      vmManifest('vm1', { runStrategy: 'Manual' }),
    );
    await http.req(
      'POST',
      `/apis/kubevirt.io/v1/namespaces/${NS}/virtualmachines`,
      vmManifest('vm2', { runStrategy: 'Manual' }),
    );
    await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: 'limited' } } });
    await http.req('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles`, {
      metadata: { name: 'vm1-only' },
      rules: [
        {
          apiGroups: ['kubevirt.io'],
          resources: ['virtualmachines'],
          resourceNames: ['vm1'],
          verbs: ['get', 'list', 'watch'],
        },
        {
          apiGroups: ['subresources.kubevirt.io'],
          resources: ['virtualmachines/start', 'virtualmachines/stop'],
          resourceNames: ['vm1'],
          verbs: ['update'],
        },
      ],
    });
    await http.req('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`, {
      metadata: { name: 'vm1-only' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'vm1-only' },
      subjects: [{ kind: 'ServiceAccount', name: 'limited', namespace: NS }],
    });
    const kc = new k8s.KubeConfig();
    kc.loadFromString(cluster.serviceAccountKubeconfig(NS, 'limited'));
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const vm = { group: 'kubevirt.io', version: 'v1', namespace: NS, plural: 'virtualmachines' };
    assert.equal((await custom.getNamespacedCustomObject({ ...vm, name: 'vm1' })).metadata.name, 'vm1');
    const denied = await custom.getNamespacedCustomObject({ ...vm, name: 'vm2' }).then(
      () => undefined,
      (e: k8s.ApiException<string>) => e,
    );
    assert.equal(denied?.code, 403);
    const body = JSON.parse(denied!.body);
    assert.equal(body.reason, 'Forbidden');
    assert.equal(
      body.message,
      'virtualmachines.kubevirt.io "vm2" is forbidden: User "system:serviceaccount:default:limited" cannot get resource "virtualmachines" in API group "kubevirt.io" in the namespace "default"',
    );
    const listAll = await custom.listNamespacedCustomObject(vm).then(
      () => 200,
      (e: k8s.ApiException<string>) => e.code,
    );
    assert.equal(listAll, 403);
    const one = await custom.listNamespacedCustomObject({ ...vm, fieldSelector: 'metadata.name=vm1' });
    assert.deepEqual(
      one.items.map((i: Obj) => i.metadata.name),
      ['vm1'],
    );
    const token = /token: (\S+)/.exec(cluster.serviceAccountKubeconfig(NS, 'limited'))![1];
    const put = (name: string, action: string) =>
      fetch(
        `${cluster.url}/apis/subresources.kubevirt.io/v1/namespaces/${NS}/virtualmachines/${name}/${action}`,
        { method: 'PUT', headers: { Authorization: `Bearer ${token}` } },
      );
    assert.equal((await put('vm1', 'start')).status, 202);
    const r = await put('vm2', 'start');
    assert.equal(r.status, 403);
    assert.match(
      ((await r.json()) as Obj).message,
      /cannot update resource "virtualmachines\/start" in API group "subresources.kubevirt.io"/,
    );
    assert.equal((await put('vm1', 'restart')).status, 403);
    // a ClusterRoleBinding grants cluster-wide reads
    const nsList = () =>
      fetch(`${cluster.url}/api/v1/namespaces`, { headers: { Authorization: `Bearer ${token}` } }).then(
        (x) => x.status,
      );
    assert.equal(await nsList(), 403);
    await http.req('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      metadata: { name: 'ns-reader' },
      rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] }],
    });
    await http.req('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      metadata: { name: 'ns-reader' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ns-reader' },
      subjects: [{ kind: 'ServiceAccount', name: 'limited', namespace: NS }],
    });
    assert.equal(await nsList(), 200);
    // deleting the ServiceAccount revokes its token
    await core.deleteNamespacedServiceAccount({ namespace: NS, name: 'limited' });
    assert.equal((await put('vm1', 'stop')).status, 401);
    assert.ok(readFileSync(cluster.kubeconfigPath, 'utf8').includes('certificate-authority-data'));
  });
});

describe('stop()', () => {
  test('stops agent processes and frees the API port and the pods host ports', async () => {
    const c = await startSimCluster({ timing: 'fast', agentCommand: [process.execPath, STUB] });
    const h = new SimHttp(c);
    await h.req('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, {
      ...deployment,
      spec: {
        ...deployment.spec,
        template: {
          ...deployment.spec.template,
          spec: {
            containers: [
              { name: 'agent', image: 'kubevirtbmc:dev', ports: [{ name: 'redfish', containerPort: 10080 }] },
            ],
          },
        },
      },
    });
    await h.req('POST', `/api/v1/namespaces/${NS}/services`, {
      metadata: { name: 'bmc' },
      spec: { selector: { app: 'bmc' }, ports: [{ port: 80, targetPort: 'redfish' }] },
    });
    const ep = await waitFor(() => c.serviceEndpoints(NS, 'bmc')['80/TCP'], { what: 'endpoint' });
    await waitFor(
      async () => {
        try {
          return (await fetch(`http://${ep}/`)).ok;
        } catch {
          return false;
        }
      },
      { what: 'agent up' },
    );
    const apiPort = Number(new URL(c.url).port);
    await c.stop();
    await assert.rejects(fetch(`http://${ep}/`));
    await assert.rejects(fetch(`${c.url}/version`));
    const again = await startSimCluster({ port: apiPort });
    assert.equal(again.url, c.url);
    await again.stop();
  });
});
