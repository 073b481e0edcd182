// The fake node (packages/kube-sim/src/fakecluster/kubelet) on the real control plane: kube-apiserver, etcd,
// kube-controller-manager (Deployments, ReplicaSets, EndpointSlices, garbage collector, node
// lifecycle) and kube-scheduler built by `npm run control-plane`. The node must stay Ready, agent
// pods the real scheduler binds to it must run as processes with their env and a TokenRequest
// token, become Ready by their probe, restart, terminate gracefully, and Services must get the
// endpoints annotation. Skipped when the control plane is not built (failed under CI=true).
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { KubeClient } from '../../../../src/kube/client.ts';
import { KubeConfigAccess } from '../../../../src/kube/config.ts';
import { waitFor } from '../../../../test/support/wait.ts';
import { BUILD_HINT, controlPlaneBinaries } from '../../src/fakecluster/controlplane/binaries.ts';
import { startControlPlane } from '../../src/fakecluster/controlplane/start.ts';
import type { ControlPlane } from '../../src/fakecluster/controlplane.ts';
import {
  endpointsOf,
  expand,
  type FakeNode,
  parseQuantity,
  startFakeNode,
} from '../../src/fakecluster/kubelet/index.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
type Obj = Record<string, any>;

const NS = 'default';
const NODE = 'fake-node-1';
const STUB = new URL('../../../../test/support/sim-agent-stub.mjs', import.meta.url).pathname;
const skip = controlPlaneBinaries() || process.env.CI === 'true' ? false : BUILD_HINT;
/** Bounds of every wait: generous for two shared cores, finite so a broken feature fails. */
const WAIT = { timeoutMs: 30_000, intervalMs: 100 };

let cp: ControlPlane;
let node: FakeNode;
let admin: KubeClient;
const logLines: Array<{ obj: Obj; msg: string }> = [];
/** Everything seen wrong with the Node after it first became Ready (sampled every second). */
const nodeProblems: string[] = [];
let sampler: NodeJS.Timeout | undefined;
let samplingSince = 0;
/** Longer than the node lifecycle controller's grace period (8 s) plus its monitor period. */
const SAMPLE_AT_LEAST_MS = 12_000;

const api = <T = Obj>(method: string, path: string, body?: unknown) =>
  admin.request<T>(method, path, body === undefined ? {} : { body });

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

async function getJson(url: string): Promise<Obj | undefined> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return (await r.json()) as Obj;
  } catch {
    return undefined;
  }
}

function jwtClaims(token: string): Obj {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
}

async function whoAmI(kubeconfigPath: string): Promise<Obj> {
  const c = new KubeClient(KubeConfigAccess.load(kubeconfigPath), 'kubelet-test');
  try {
    const r = await c.request<Obj>('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    return r.status.userInfo;
  } finally {
    c.close();
  }
}

const agentPods = async (): Promise<Obj[]> =>
  (await api<Obj>('GET', `/api/v1/namespaces/${NS}/pods?labelSelector=app%3Dbmc`)).items;

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
        terminationGracePeriodSeconds: 20,
        containers: [
          {
            name: 'agent',
            image: 'example.org/kubevirtbmc:test',
            command: ['/ignored'],
            args: ['agent', '--vm', '$(STUB_VM)', '--literal=$$(STUB_VM)'],
            env: [
              { name: 'STUB_VM', value: 'vm1' },
              { name: 'STUB_FIXED', value: 'hello-$(STUB_VM)' },
              { name: 'STUB_POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'STUB_NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
              { name: 'STUB_SA', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
              { name: 'STUB_NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
              { name: 'STUB_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
              { name: 'STUB_PASSWORD', valueFrom: { secretKeyRef: { name: 'bmc-auth', key: 'password' } } },
              { name: 'STUB_MODE', valueFrom: { configMapKeyRef: { name: 'bmc-settings', key: 'mode' } } },
              {
                name: 'STUB_ABSENT',
                valueFrom: { secretKeyRef: { name: 'no-such-secret', key: 'x', optional: true } },
              },
            ],
            ports: [
              { name: 'ipmi', containerPort: 10623, protocol: 'UDP' },
              { name: 'redfish', containerPort: 10080, protocol: 'TCP' },
            ],
            readinessProbe: { httpGet: { path: '/readyz', port: 'redfish' }, periodSeconds: 1 },
          },
        ],
      },
    },
  },
};

describe('fake node helpers', () => {
  test('$(VAR) expansion as the kubelet does it', () => {
    const vars = { A: 'x', B: '' };
    assert.equal(expand('$(A)-$(B)-$(C)', vars), 'x--$(C)');
    assert.equal(expand('$$(A) $$ $ $(A', vars), '$(A) $ $ $(A');
  });

  test('Service endpoints from pods: targetPort by name or number, ready pods first, protocols apart', () => {
    const pod = (name: string, ready: boolean): Obj => ({
      metadata: { name, namespace: NS, labels: { app: 'x' } },
      spec: {
        containers: [
          {
            name: 'c',
            ports: [
              { name: 'ipmi', containerPort: 623, protocol: 'UDP' },
              { name: 'web', containerPort: 8080 },
            ],
          },
        ],
      },
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
    });
    const svc: Obj = {
      metadata: { name: 's', namespace: NS },
      spec: {
        selector: { app: 'x' },
        ports: [
          { port: 623, protocol: 'UDP', targetPort: 'ipmi' },
          { port: 80, protocol: 'TCP', targetPort: 'web' },
          { port: 81, protocol: 'TCP', targetPort: 9999 },
          { port: 82, protocol: 'TCP', targetPort: 'ipmi' },
        ],
      },
    };
    const hosts: Record<string, number> = {
      'a/623/UDP': 1,
      'a/8080/TCP': 2,
      'b/623/UDP': 3,
      'b/8080/TCP': 4,
    };
    const map = endpointsOf(
      svc as never,
      [pod('a', false), pod('b', true)] as never,
      (p, key) => hosts[`${p.metadata.name}/${key}`],
    );
    assert.equal(JSON.stringify(map), JSON.stringify({ '623/UDP': '127.0.0.1:3', '80/TCP': '127.0.0.1:4' }));
    assert.deepEqual(
      endpointsOf(
        { ...svc, spec: { ...svc.spec, selector: {} } } as never,
        [pod('a', true)] as never,
        () => 1,
      ),
      {},
    );
  });
});

describe('fake node on the real control plane', { skip }, () => {
  before(async () => {
    const t0 = Date.now();
    cp = await startControlPlane({
      // a node whose lease stops being renewed goes NotReady within seconds, not 50 s
      controllerManagerArgs: ['--node-monitor-grace-period=8s', '--node-monitor-period=1s'],
    });
    process.stderr.write(`# control plane started in ${Date.now() - t0} ms\n`);
    admin = new KubeClient(KubeConfigAccess.load(cp.kubeconfigPath), 'kubelet-test-admin');
    node = await startFakeNode({
      kubeconfigPath: cp.kubeconfigPath,
      nodeName: NODE,
      agentCommand: [process.execPath, STUB],
      leaseRenewMs: 2000,
      statusReportMs: 5000,
      tokenRenewMs: 4000,
      logger: {
        info: (obj, msg) => logLines.push({ obj, msg }),
        warn: (obj, msg) => logLines.push({ obj, msg }),
      },
    });
  });

  after(async () => {
    if (sampler) clearInterval(sampler);
    sampler = undefined;
    await node?.stop();
    admin?.close();
    await cp?.stop();
  });

  test('the Node registers Ready, untainted, with its addresses, version and a renewed Lease', async (t) => {
    const t0 = Date.now();
    const n = await waitFor(
      async () => {
        const x = await api('GET', `/api/v1/nodes/${NODE}`);
        const ready = x.status.conditions.find((c: Obj) => c.type === 'Ready');
        return ready?.status === 'True' && !(x.spec.taints ?? []).length ? x : undefined;
      },
      { ...WAIT, what: 'the Node Ready without taints' },
    );
    t.diagnostic(`ready after ${Date.now() - t0} ms`);
    assert.deepEqual(n.status.addresses, [
      { type: 'InternalIP', address: '127.0.0.1' },
      { type: 'Hostname', address: NODE },
    ]);
    assert.equal(n.status.nodeInfo.kubeletVersion, cp.version);
    assert.equal(n.status.nodeInfo.operatingSystem, 'linux');
    assert.ok(parseQuantity(n.status.allocatable.pods) >= 110);
    assert.ok(n.status.daemonEndpoints.kubeletEndpoint.Port > 0);
    const leasePath = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${NODE}`;
    const l1 = await api('GET', leasePath);
    assert.equal(l1.spec.holderIdentity, NODE);
    assert.equal(l1.metadata.ownerReferences[0].uid, n.metadata.uid);
    await waitFor(async () => (await api('GET', leasePath)).spec.renewTime > l1.spec.renewTime, {
      ...WAIT,
      timeoutMs: 10_000,
      what: 'the Lease renewed',
    });
    t.diagnostic(`lease renewed after ${Date.now() - t0} ms`);
    // from now on, sample the Node: it must stay Ready and untainted (the node lifecycle
    // controller runs with an 8 s grace period here)
    samplingSince = Date.now();
    sampler = setInterval(() => {
      api('GET', `/api/v1/nodes/${NODE}`).then(
        (x) => {
          // an answer that arrives after the suite stopped the control plane is not the Node's
          if (!sampler || !x?.status) return;
          const ready = x.status.conditions?.find((c: Obj) => c.type === 'Ready');
          if (ready?.status !== 'True') nodeProblems.push(`Ready=${ready?.status} (${ready?.reason})`);
          for (const t of x.spec?.taints ?? []) nodeProblems.push(`taint ${t.key}:${t.effect}`);
        },
        () => {},
      );
    }, 1000);
  });

  test('a Deployment the real scheduler binds here runs as a process with its env, ports and a TokenRequest token', async () => {
    await api('POST', `/api/v1/namespaces/${NS}/serviceaccounts`, { metadata: { name: 'bmc-agent' } });
    await api('POST', `/api/v1/namespaces/${NS}/secrets`, {
      metadata: { name: 'bmc-auth' },
      stringData: { password: 's3cret' },
    });
    await api('POST', `/api/v1/namespaces/${NS}/configmaps`, {
      metadata: { name: 'bmc-settings' },
      data: { mode: 'shared' },
    });
    await api('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, deployment);
    const pod = await waitFor(
      async () =>
        (await agentPods()).find((p) =>
          (p.status?.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True'),
        ),
      { ...WAIT, what: 'the agent pod Ready' },
    );
    const name = pod.metadata.name as string;
    // bound by kube-scheduler, not by us
    assert.equal(pod.spec.nodeName, NODE);
    const events = await api(
      'GET',
      `/api/v1/namespaces/${NS}/events?fieldSelector=involvedObject.name%3D${name}`,
    );
    assert.ok(
      events.items.some((e: Obj) => e.reason === 'Scheduled' && /default-scheduler/.test(JSON.stringify(e))),
      'a Scheduled event from the default scheduler',
    );
    assert.equal(pod.status.phase, 'Running');
    assert.equal(pod.status.hostIP, '127.0.0.1');
    assert.match(pod.status.podIP, /^10\.88\.\d+\.\d+$/);
    assert.deepEqual(pod.status.podIPs, [{ ip: pod.status.podIP }]);
    const cs = pod.status.containerStatuses[0];
    assert.equal(cs.name, 'agent');
    assert.equal(cs.ready, true);
    assert.ok(cs.state.running.startedAt);
    const ports = JSON.parse(pod.metadata.annotations['sim.kubevirtbmc.io/host-ports']);
    assert.deepEqual(Object.keys(ports).sort(), ['10080/TCP', '10623/UDP']);
    assert.equal(node.hostPort(NS, name, '10080/TCP'), ports['10080/TCP']);

    const info = (await waitFor(() => getJson(`http://127.0.0.1:${ports['10080/TCP']}/anything`), {
      ...WAIT,
      what: 'the process answering on its mapped port',
    })) as Obj;
    assert.deepEqual(info.args, ['agent', '--vm', 'vm1', '--literal=$(STUB_VM)']);
    assert.equal(info.env.STUB_FIXED, 'hello-vm1');
    assert.equal(info.env.STUB_POD, name);
    assert.equal(info.env.STUB_NS, NS);
    assert.equal(info.env.STUB_SA, 'bmc-agent');
    assert.equal(info.env.STUB_NODE, NODE);
    assert.equal(info.env.STUB_IP, '127.0.0.1');
    assert.equal(info.env.STUB_PASSWORD, 's3cret');
    assert.equal(info.env.STUB_MODE, 'shared');
    assert.equal(info.env.STUB_ABSENT, undefined);
    assert.equal(info.env.POD_IP, '127.0.0.1');
    assert.deepEqual(JSON.parse(info.env.KUBEVIRTBMC_SIM_PORT_MAP), ports);
    assert.equal(await udpEcho(`127.0.0.1:${ports['10623/UDP']}`, 'ping'), 'ping');

    // KUBECONFIG: a TokenRequest token bound to this pod, for its ServiceAccount, valid an hour
    const kc = parse(readFileSync(info.env.KUBECONFIG, 'utf8')) as Obj;
    const claims = jwtClaims(kc.users[0].user.token);
    assert.equal(claims.exp - claims.iat, 3600);
    assert.equal(claims['kubernetes.io'].pod.name, name);
    assert.equal(claims['kubernetes.io'].pod.uid, pod.metadata.uid);
    assert.equal(claims['kubernetes.io'].serviceaccount.name, 'bmc-agent');
    const user = await whoAmI(info.env.KUBECONFIG);
    assert.equal(user.username, `system:serviceaccount:${NS}:bmc-agent`);
    assert.deepEqual(user.extra['authentication.kubernetes.io/pod-name'], [name]);
    assert.deepEqual(user.extra['authentication.kubernetes.io/node-name'], [NODE]);

    // the real Deployment controller counts it ready
    await waitFor(
      async () =>
        (await api('GET', `/apis/apps/v1/namespaces/${NS}/deployments/bmc`)).status?.readyReplicas === 1,
      { ...WAIT, what: 'the Deployment ready' },
    );
    // logs: kept by the node, and proxied by kube-apiserver to the node's kubelet API
    assert.match(node.logs(NS, name) ?? '', /stub agent started with args/);
    const proxied = await admin.request<string>('GET', `/api/v1/namespaces/${NS}/pods/${name}/log`, {
      query: { tailLines: 5, container: 'agent' },
    });
    assert.match(
      String(proxied),
      /stub agent started with args \["agent","--vm","vm1","--literal=\$\(STUB_VM\)"\]/,
    );
  });

  test('the pod token is renewed by rewriting its files, and the new token authenticates', async () => {
    const [pod] = await agentPods();
    const info = (await getJson(
      `http://127.0.0.1:${node.hostPort(NS, pod!.metadata.name, '10080/TCP')}/x`,
    )) as Obj;
    const first = parse(readFileSync(info.env.KUBECONFIG, 'utf8')).users[0].user;
    const renewed = await waitFor(
      () => {
        const t = readFileSync(first.tokenFile, 'utf8');
        return t !== first.token ? t : undefined;
      },
      { ...WAIT, timeoutMs: 15_000, what: 'the token file rewritten' },
    );
    assert.notEqual(jwtClaims(renewed).jti, jwtClaims(first.token).jti);
    assert.equal(
      parse(readFileSync(info.env.KUBECONFIG, 'utf8')).users[0].user.token,
      readFileSync(first.tokenFile, 'utf8'),
    );
    assert.equal((await whoAmI(info.env.KUBECONFIG)).username, `system:serviceaccount:${NS}:bmc-agent`);
  });

  test('a Service gets the endpoints annotation with reachable 127.0.0.1 ports; the real EndpointSlice controller accepts the pod IP', async () => {
    await api('POST', `/api/v1/namespaces/${NS}/services`, {
      metadata: { name: 'bmc' },
      spec: {
        selector: { app: 'bmc' },
        ports: [
          { name: 'ipmi', port: 623, protocol: 'UDP', targetPort: 'ipmi' },
          { name: 'http', port: 80, targetPort: 'redfish' },
          { name: 'metrics', port: 9090, targetPort: 10080 },
        ],
      },
    });
    const [pod] = await agentPods();
    const ports = JSON.parse(pod!.metadata.annotations['sim.kubevirtbmc.io/host-ports']);
    const expected = JSON.stringify({
      '623/UDP': `127.0.0.1:${ports['10623/UDP']}`,
      '80/TCP': `127.0.0.1:${ports['10080/TCP']}`,
      '9090/TCP': `127.0.0.1:${ports['10080/TCP']}`,
    });
    const svc = await waitFor(
      async () => {
        const s = await api('GET', `/api/v1/namespaces/${NS}/services/bmc`);
        return s.metadata.annotations?.['sim.kubevirtbmc.io/endpoints'] === expected ? s : undefined;
      },
      { ...WAIT, what: 'the endpoints annotation' },
    );
    const eps = JSON.parse(svc.metadata.annotations['sim.kubevirtbmc.io/endpoints']);
    assert.deepEqual(node.serviceEndpoints(NS, 'bmc'), eps);
    assert.equal(await udpEcho(eps['623/UDP'], 'hello'), 'hello');
    assert.equal((await getJson(`http://${eps['80/TCP']}/`))?.port, '10080/TCP');
    const slices = await waitFor(
      async () => {
        const l = await api(
          'GET',
          `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dbmc`,
        );
        return l.items.some((s: Obj) => (s.endpoints ?? []).length > 0) ? l.items : undefined;
      },
      { ...WAIT, what: 'an EndpointSlice with the pod' },
    );
    const ep = slices.flatMap((s: Obj) => s.endpoints ?? [])[0];
    assert.deepEqual(ep.addresses, [pod!.status.podIP]);
    assert.equal(ep.nodeName, NODE);
    assert.equal(ep.conditions.ready, true);
  });

  test('a process that exits is restarted with the same ports; the previous log is kept', async () => {
    const [pod] = await agentPods();
    const name = pod!.metadata.name as string;
    const port = node.hostPort(NS, name, '10080/TCP');
    await fetch(`http://127.0.0.1:${port}/exit`).then((r) => r.text());
    const restarted = await waitFor(
      async () => {
        const p = await api('GET', `/api/v1/namespaces/${NS}/pods/${name}`);
        const cs = p.status.containerStatuses[0];
        return cs.restartCount === 1 && cs.state.running && cs.ready ? cs : undefined;
      },
      { ...WAIT, what: 'restarted and Ready again' },
    );
    assert.equal(restarted.lastState.terminated.exitCode, 3);
    assert.equal(restarted.lastState.terminated.reason, 'Error');
    assert.equal(node.hostPort(NS, name, '10080/TCP'), port);
    assert.ok(await waitFor(() => getJson(`http://127.0.0.1:${port}/x`), { ...WAIT, what: 'serving again' }));
    assert.match(node.logs(NS, name, { previous: true }) ?? '', /stub agent started/);
    const previous = await admin.request<string>('GET', `/api/v1/namespaces/${NS}/pods/${name}/log`, {
      query: { previous: true },
    });
    assert.match(String(previous), /stub agent started/);
  });

  test('deleting the pod sends SIGTERM; the kubelet deletes it once the process exited; the replacement takes over the Service', async () => {
    const [pod] = await agentPods();
    const name = pod!.metadata.name as string;
    const oldPort = node.hostPort(NS, name, '10080/TCP');
    await api('DELETE', `/api/v1/namespaces/${NS}/pods/${name}`);
    await waitFor(
      async () => {
        try {
          await api('GET', `/api/v1/namespaces/${NS}/pods/${name}`);
          return false;
        } catch (e) {
          return (e as { code?: number }).code === 404;
        }
      },
      { ...WAIT, what: 'the pod deleted by the kubelet' },
    );
    // the stub exits 0 on SIGTERM; a SIGKILL would show as a signal
    const exit = logLines
      .filter((l) => l.msg === 'fake kubelet: container exited' && l.obj.pod === `${NS}/${name}`)
      .at(-1);
    assert.deepEqual([exit?.obj.exitCode, exit?.obj.signal], [0, null]);
    assert.equal(
      await getJson(`http://127.0.0.1:${oldPort}/x`),
      undefined,
      'the old process no longer serves',
    );
    const replacement = await waitFor(
      async () =>
        (await agentPods()).find(
          (p) =>
            p.metadata.name !== name &&
            (p.status?.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True'),
        ),
      { ...WAIT, what: 'the replacement pod Ready' },
    );
    const newPorts = JSON.parse(replacement.metadata.annotations['sim.kubevirtbmc.io/host-ports']);
    await waitFor(
      async () =>
        JSON.parse(
          (await api('GET', `/api/v1/namespaces/${NS}/services/bmc`)).metadata.annotations[
            'sim.kubevirtbmc.io/endpoints'
          ],
        )['80/TCP'] === `127.0.0.1:${newPorts['10080/TCP']}`,
      { ...WAIT, what: 'the annotation following the replacement pod' },
    );
  });

  test('a missing Secret holds the container in CreateContainerConfigError until it exists', async () => {
    await api('POST', `/api/v1/namespaces/${NS}/pods`, {
      metadata: { name: 'needs-secret' },
      spec: {
        containers: [
          {
            name: 'agent',
            image: 'registry.example:5000/org/kubevirtbmc@sha256:abc',
            args: ['late'],
            env: [{ name: 'STUB_LATE', valueFrom: { secretKeyRef: { name: 'late', key: 'v' } } }],
            ports: [{ containerPort: 8080 }],
          },
        ],
      },
    });
    const waiting = await waitFor(
      async () =>
        (await api('GET', `/api/v1/namespaces/${NS}/pods/needs-secret`)).status?.containerStatuses?.[0]?.state
          ?.waiting,
      { ...WAIT, what: 'the container waiting' },
    );
    assert.equal(waiting.reason, 'CreateContainerConfigError');
    assert.match(waiting.message, /secret "late" not found/);
    await api('POST', `/api/v1/namespaces/${NS}/secrets`, {
      metadata: { name: 'late' },
      stringData: { v: 'now' },
    });
    const port = await waitFor(() => node.hostPort(NS, 'needs-secret', '8080/TCP'), WAIT);
    const info = await waitFor(() => getJson(`http://127.0.0.1:${port}/`), { ...WAIT, what: 'started' });
    assert.equal(info.env.STUB_LATE, 'now');
    await api('DELETE', `/api/v1/namespaces/${NS}/pods/needs-secret`);
  });

  test('readiness follows the probe: a probe nobody answers keeps the pod unready; a tcpSocket probe on a served port makes it ready', async () => {
    const pod = (name: string, readinessProbe: Obj) => ({
      metadata: { name, labels: { probe: 'test' } },
      spec: {
        containers: [
          {
            name: 'agent',
            image: 'example.org/kubevirtbmc:test',
            ports: [{ name: 'http', containerPort: 8080 }],
            readinessProbe: { ...readinessProbe, periodSeconds: 1 },
          },
        ],
      },
    });
    // nothing listens on 127.0.0.1:1, and port 1 is not declared so it is not mapped
    await api(
      'POST',
      `/api/v1/namespaces/${NS}/pods`,
      pod('never-ready', { httpGet: { path: '/', port: 1 } }),
    );
    await api('POST', `/api/v1/namespaces/${NS}/pods`, pod('tcp-ready', { tcpSocket: { port: 'http' } }));
    await waitFor(
      async () => {
        const p = await api('GET', `/api/v1/namespaces/${NS}/pods/tcp-ready`);
        return p.status?.containerStatuses?.[0]?.ready === true;
      },
      { ...WAIT, what: 'tcp-ready Ready' },
    );
    const running = await waitFor(
      async () => {
        const p = await api('GET', `/api/v1/namespaces/${NS}/pods/never-ready`);
        return p.status?.containerStatuses?.[0]?.state?.running ? p : undefined;
      },
      { ...WAIT, what: 'never-ready running' },
    );
    // its process serves (the probe, not the process, is what fails)
    const port = node.hostPort(NS, 'never-ready', '8080/TCP');
    assert.ok(await waitFor(() => getJson(`http://127.0.0.1:${port}/`), { ...WAIT, what: 'serving' }));
    await new Promise((r) => setTimeout(r, 1500));
    const p = await api('GET', `/api/v1/namespaces/${NS}/pods/never-ready`);
    assert.equal(p.status.phase, 'Running');
    assert.equal(p.status.containerStatuses[0].ready, false);
    const ready = p.status.conditions.find((c: Obj) => c.type === 'Ready');
    assert.deepEqual([ready.status, ready.reason], ['False', 'ContainersNotReady']);
    assert.equal(running.metadata.uid, p.metadata.uid);
    for (const name of ['never-ready', 'tcp-ready'])
      await api('DELETE', `/api/v1/namespaces/${NS}/pods/${name}`);
  });

  test('deleting the Deployment stops its processes (garbage collector) and empties the annotation; the Node stayed Ready', async () => {
    const [pod] = await agentPods();
    const port = node.hostPort(NS, pod!.metadata.name, '10080/TCP');
    await api('DELETE', `/apis/apps/v1/namespaces/${NS}/deployments/bmc`, {
      propagationPolicy: 'Background',
    });
    await waitFor(async () => (await agentPods()).length === 0, { ...WAIT, what: 'the pods gone' });
    assert.equal(await getJson(`http://127.0.0.1:${port}/x`), undefined);
    await waitFor(
      async () =>
        (await api('GET', `/api/v1/namespaces/${NS}/services/bmc`)).metadata.annotations[
          'sim.kubevirtbmc.io/endpoints'
        ] === '{}',
      { ...WAIT, what: 'the annotation emptied' },
    );
    // sample long enough that a node whose heartbeats stopped would have been marked NotReady
    const left = samplingSince + SAMPLE_AT_LEAST_MS - Date.now();
    if (left > 0) await new Promise((r) => setTimeout(r, left));
    assert.ok(samplingSince > 0, 'the Node was sampled');
    assert.deepEqual(nodeProblems, [], 'the Node never left Ready nor got a taint');
    const n = await api('GET', `/api/v1/nodes/${NODE}`);
    assert.equal(n.status.conditions.find((c: Obj) => c.type === 'Ready').status, 'True');
  });
});
