import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Reconciler } from '../../../src/controller/reconciler.ts';
import type { KObject, Placement, VirtualMachineBMC } from '../../../src/controller/types.ts';
import { bmc, FakeCluster, secret, vm } from './fake-cluster.ts';

const NS = 'lab';
const IMAGE = 'ghcr.io/kubevirtbmc-project/kubevirtbmc:0.1.0';

function setup(placement: Placement = 'per-vm') {
  const c = new FakeCluster();
  c.put(vm(NS, 'vm1'));
  c.put(secret(NS, 'vm1-auth', { username: 'admin', password: 'secret-pw' }));
  c.put(bmc(NS, 'vm1-bmc', 'vm1', 'vm1-auth'));
  const r = new Reconciler({ placement, agent: { image: IMAGE } });
  return { c, r, run: () => r.reconcileNamespace(NS, c, c) };
}

function status(c: FakeCluster, name: string) {
  return (c.get('VirtualMachineBMC', NS, name) as VirtualMachineBMC).status!;
}

function cond(c: FakeCluster, name: string, type: string) {
  return status(c, name).conditions!.find((x) => x.type === type)!;
}

describe('per-vm placement', () => {
  test('creates the agent objects named after the BMC, owned by it, and converges', async () => {
    const { c, run } = setup();
    const r1 = await run();
    assert.deepEqual(r1.errors, []);
    for (const kind of ['ServiceAccount', 'Role', 'RoleBinding', 'Deployment', 'Service']) {
      const o = c.get(kind, NS, 'vbmc-vm1-bmc');
      assert.ok(o, `${kind} vbmc-vm1-bmc exists`);
      const owner = o.metadata.ownerReferences![0]!;
      assert.equal(owner.kind, 'VirtualMachineBMC');
      assert.equal(owner.name, 'vm1-bmc');
      assert.equal(owner.controller, true);
    }
    const d = c.get('Deployment', NS, 'vbmc-vm1-bmc')!;
    assert.equal(d.spec.replicas, 1);
    const ctr = d.spec.template.spec.containers[0];
    assert.equal(ctr.image, IMAGE);
    assert.ok(ctr.args.includes('--vm=lab/vm1'));
    assert.ok(ctr.readinessProbe && ctr.livenessProbe && ctr.resources.limits.memory);
    assert.equal(d.spec.template.spec.securityContext.runAsNonRoot, true);
    assert.deepEqual(ctr.securityContext.capabilities.drop, ['ALL']);
    assert.ok(
      ctr.env.some(
        (e: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }) =>
          e.name === 'POD_IP' && e.valueFrom?.fieldRef?.fieldPath === 'status.podIP',
      ),
    );
    // Second pass: no writes at all.
    c.writes.length = 0;
    const r2 = await run();
    assert.deepEqual(c.writes, []);
    assert.equal(r2.created + r2.updated + r2.deleted + r2.statusWrites, 0);
  });

  test('the Role names exactly this VM and Secret', async () => {
    const { c, run } = setup();
    await run();
    const rules = c.get('Role', NS, 'vbmc-vm1-bmc')!.rules as Array<{
      resources: string[];
      resourceNames?: string[];
      verbs: string[];
    }>;
    const vmRule = rules.find((r) => r.resources.includes('virtualmachines'))!;
    assert.deepEqual(vmRule.resourceNames, ['vm1']);
    const secretRule = rules.find((r) => r.resources.includes('secrets') && r.resourceNames)!;
    assert.deepEqual(secretRule.resourceNames, ['vm1-auth']);
    assert.ok(!secretRule.verbs.includes('update'));
    const sub = rules.find((r) => r.resources.includes('virtualmachines/start'))!;
    assert.deepEqual(sub.resourceNames, ['vm1']);
    const rb = c.get('RoleBinding', NS, 'vbmc-vm1-bmc')!;
    assert.deepEqual(rb.subjects, [{ kind: 'ServiceAccount', name: 'vbmc-vm1-bmc', namespace: NS }]);
  });

  test('the Redfish subscriptions ConfigMap: created before the agent, its data kept, legacy ones adopted', async () => {
    const { c, run } = setup();
    await run();
    const name = 'vm1-bmc-redfish-subscriptions';
    assert.ok(
      c.writes.indexOf(`create ConfigMap/${name}`) < c.writes.indexOf('create Deployment/vbmc-vm1-bmc'),
      c.writes.join(', '),
    );
    // The agent writes its subscriptions; the controller neither compares nor rewrites them.
    const cm = structuredClone(c.get('ConfigMap', NS, name)!);
    cm.data = { 'subscriptions.json': '{"format":1,"subscriptions":[]}' };
    c.put(cm);
    c.writes.length = 0;
    await run();
    assert.deepEqual(c.writes, []);
    // Someone widens its labels or drops its owner: put back, data untouched.
    const edited = structuredClone(c.get('ConfigMap', NS, name)!);
    edited.metadata.ownerReferences = [];
    c.put(edited);
    await run();
    const fixed = c.get('ConfigMap', NS, name)!;
    assert.equal(fixed.metadata.ownerReferences?.[0]?.name, 'vm1-bmc');
    assert.deepEqual(fixed.data, cm.data);
    // One created by an agent of an earlier version (label managed-by: kubevirtbmc, owner without
    // controller): adopted in place, its subscriptions kept.
    const legacy = setup();
    legacy.c.put({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name,
        namespace: NS,
        labels: { 'app.kubernetes.io/managed-by': 'kubevirtbmc', 'bmc.kubevirt.io/bmc': 'vm1-bmc' },
        ownerReferences: [
          {
            apiVersion: 'bmc.kubevirt.io/v1beta1',
            kind: 'VirtualMachineBMC',
            name: 'vm1-bmc',
            uid: legacy.c.get('VirtualMachineBMC', NS, 'vm1-bmc')!.metadata.uid!,
            blockOwnerDeletion: false,
          },
        ],
      },
      data: { 'subscriptions.json': '{"format":1,"subscriptions":[{"Id":"1"}]}' },
    } as KObject);
    const r = await legacy.run();
    assert.deepEqual(r.errors, []);
    assert.ok(!legacy.c.writes.includes(`create ConfigMap/${name}`), legacy.c.writes.join(', '));
    const adopted = legacy.c.get('ConfigMap', NS, name)!;
    assert.equal(adopted.metadata.labels?.['app.kubernetes.io/managed-by'], 'kubevirtbmc-controller');
    assert.equal(adopted.metadata.ownerReferences?.[0]?.controller, true);
    assert.match((adopted.data as Record<string, string>)['subscriptions.json']!, /"Id":"1"/);
  });

  test('status: Ready only once the agent is available; endpoints and clusterIP recorded', async () => {
    const { c, run } = setup();
    await run();
    assert.equal(cond(c, 'vm1-bmc', 'Ready').status, 'False');
    assert.equal(cond(c, 'vm1-bmc', 'AgentAvailable').reason, 'AgentStarting');
    c.markAvailable(NS, 'vbmc-vm1-bmc');
    await run();
    const s = status(c, 'vm1-bmc');
    assert.equal(cond(c, 'vm1-bmc', 'Ready').status, 'True');
    assert.match(s.clusterIP!, /^10\.96\./);
    assert.equal(s.endpoints!.ipmi, `${s.clusterIP}:623`);
    assert.equal(s.endpoints!.redfish, `http://${s.clusterIP}:80`);
    assert.equal(s.observedGeneration, 1);
    assert.ok(c.events.some((e) => e.reason === 'BMCReady'));
  });

  test('a missing VM scales the agent down and says what to do; it comes back when the VM appears', async () => {
    const { c, run } = setup();
    c.remove('VirtualMachine', NS, 'vm1');
    await run();
    assert.equal(c.get('Deployment', NS, 'vbmc-vm1-bmc')!.spec.replicas, 0);
    const vmc = cond(c, 'vm1-bmc', 'VirtualMachineAvailable');
    assert.equal(vmc.status, 'False');
    assert.match(vmc.message, /lab\/vm1 not found: create it or correct spec\.virtualMachineRef\.name/);
    assert.equal(cond(c, 'vm1-bmc', 'Ready').reason, 'VirtualMachineNotFound');
    c.put(vm(NS, 'vm1'));
    await run();
    assert.equal(c.get('Deployment', NS, 'vbmc-vm1-bmc')!.spec.replicas, 1);
    assert.equal(cond(c, 'vm1-bmc', 'VirtualMachineAvailable').status, 'True');
  });

  for (const [what, data, re] of [
    ['no password key', { username: 'admin' }, /has no key "password"/],
    ['no username key', { password: 'x' }, /has no key "username"/],
    ['an empty password', { username: 'admin', password: '' }, /password is missing or empty/],
    // Values over IPMI's limits: test/unit/controller/credential-limits.test.ts.
  ] as const) {
    test(`a Secret with ${what} is a SecretInvalid condition, agent scaled down`, async () => {
      const { c, run } = setup();
      c.put(secret(NS, 'vm1-auth', data as Record<string, string>));
      const r = await run();
      assert.deepEqual(r.errors, []);
      const sc = cond(c, 'vm1-bmc', 'SecretAvailable');
      assert.equal(sc.status, 'False');
      assert.equal(sc.reason, 'SecretInvalid');
      assert.match(sc.message, re);
      assert.ok(!sc.message.includes('p'.repeat(21)), 'the message never quotes the secret');
      assert.equal(c.get('Deployment', NS, 'vbmc-vm1-bmc')!.spec.replicas, 0);
    });
  }

  test('drift in any owned object is corrected, and nothing else is touched', async () => {
    const { c, run } = setup();
    await run();
    const d = structuredClone(c.get('Deployment', NS, 'vbmc-vm1-bmc')!);
    d.spec.template.spec.containers[0].image = 'evil/image:latest';
    d.spec.template.spec.containers[0].securityContext.privileged = true;
    d.spec.template.spec.containers[0].terminationMessagePath = '/dev/termination-log'; // a server default
    c.put(d);
    const role = structuredClone(c.get('Role', NS, 'vbmc-vm1-bmc')!);
    (role.rules as Array<{ resourceNames?: string[] }>)[0]!.resourceNames = ['vm1', 'other-vm'];
    c.put(role);
    const svc = structuredClone(c.get('Service', NS, 'vbmc-vm1-bmc')!);
    svc.spec.ports[0].port = 9999;
    c.put(svc);
    const ip = svc.spec.clusterIP;
    c.writes.length = 0;
    const r = await run();
    assert.equal(r.updated, 3);
    const fixed = c.get('Deployment', NS, 'vbmc-vm1-bmc')!.spec.template.spec.containers[0];
    assert.equal(fixed.image, IMAGE);
    assert.equal(fixed.securityContext.privileged, undefined);
    assert.deepEqual(
      (c.get('Role', NS, 'vbmc-vm1-bmc')!.rules as Array<{ resourceNames?: string[] }>)[0]!.resourceNames,
      ['vm1'],
    );
    const fixedSvc = c.get('Service', NS, 'vbmc-vm1-bmc')!;
    assert.equal(fixedSvc.spec.ports[0].port, 623);
    assert.equal(fixedSvc.spec.clusterIP, ip, 'clusterIP kept');
    assert.ok(c.events.some((e) => e.reason === 'DriftCorrected'));
    c.writes.length = 0;
    await run();
    assert.deepEqual(c.writes, []);
  });

  test('a deleted owned object is recreated; an unwanted managed object is removed', async () => {
    const { c, run } = setup();
    await run();
    c.remove('RoleBinding', NS, 'vbmc-vm1-bmc');
    const stray = structuredClone(c.get('Service', NS, 'vbmc-vm1-bmc')!);
    stray.metadata.name = 'vbmc-gone';
    c.put(stray);
    await run();
    assert.ok(c.get('RoleBinding', NS, 'vbmc-vm1-bmc'));
    assert.equal(c.get('Service', NS, 'vbmc-gone'), undefined);
  });

  test('two BMCs for the same VM do not collide', async () => {
    const { c, run } = setup();
    c.put(bmc(NS, 'vm1-bmc-b', 'vm1', 'vm1-auth'));
    await run();
    assert.ok(c.get('Deployment', NS, 'vbmc-vm1-bmc'));
    assert.ok(c.get('Deployment', NS, 'vbmc-vm1-bmc-b'));
    assert.notEqual(
      c.get('Service', NS, 'vbmc-vm1-bmc')!.spec.clusterIP,
      c.get('Service', NS, 'vbmc-vm1-bmc-b')!.spec.clusterIP,
    );
  });

  test('protocol toggles, TLS and service type shape the Deployment and the Service', async () => {
    const c = new FakeCluster();
    c.put(vm(NS, 'vm1'));
    c.put(secret(NS, 'auth', { username: 'admin', password: 'pw' }));
    c.put(
      secret(NS, 'tls', {
        'tls.crt': '-----BEGIN CERTIFICATE-----\nx',
        'tls.key': '-----BEGIN PRIVATE KEY-----\ny',
      }),
    );
    c.put(
      bmc(NS, 'rf', 'vm1', 'auth', {
        ipmi: { enabled: false },
        redfish: { enabled: true, tlsSecretRef: { name: 'tls' } },
        service: { type: 'NodePort', redfishNodePort: 30443 },
      }),
    );
    await new Reconciler({ placement: 'per-vm', agent: { image: IMAGE } }).reconcileNamespace(NS, c, c);
    const svc = c.get('Service', NS, 'vbmc-rf')!;
    assert.equal(svc.spec.type, 'NodePort');
    assert.deepEqual(svc.spec.ports, [
      { name: 'redfish-tls', port: 443, protocol: 'TCP', targetPort: 'redfish-tls', nodePort: 30443 },
    ]);
    const args: string[] = c.get('Deployment', NS, 'vbmc-rf')!.spec.template.spec.containers[0].args;
    assert.ok(args.includes('--ipmi-port=0'));
    assert.ok(args.includes('--redfish-port=10443'));
    assert.ok(args.includes('--tls-secret=tls'));
    const role = c.get('Role', NS, 'vbmc-rf')!.rules as Array<{
      resources: string[];
      resourceNames?: string[];
    }>;
    assert.deepEqual(role.find((r) => r.resources.includes('secrets') && r.resourceNames)!.resourceNames, [
      'auth',
      'tls',
    ]);
  });

  test('a missing TLS Secret is reported', async () => {
    const c = new FakeCluster();
    c.put(vm(NS, 'vm1'));
    c.put(secret(NS, 'auth', { username: 'admin', password: 'pw' }));
    c.put(bmc(NS, 'rf', 'vm1', 'auth', { redfish: { tlsSecretRef: { name: 'nope' } } }));
    await new Reconciler({ placement: 'per-vm', agent: { image: IMAGE } }).reconcileNamespace(NS, c, c);
    const sc = cond(c, 'rf', 'SecretAvailable');
    assert.equal(sc.reason, 'TLSSecretNotFound');
    assert.match(sc.message, /TLS Secret lab\/nope not found/);
  });
});

describe('shared placement', () => {
  test('one agent per namespace, each BMC its own ports, recorded in status', async () => {
    const { c, run } = setup('shared');
    c.put(vm(NS, 'vm2'));
    c.put(secret(NS, 'vm2-auth', { username: 'admin', password: 'pw2' }));
    c.put(bmc(NS, 'vm2-bmc', 'vm2', 'vm2-auth'));
    await run();
    const deploys = c.ofKind('Deployment', NS);
    assert.deepEqual(
      deploys.map((d) => d.metadata.name),
      ['kubevirtbmc-agent'],
    );
    const d = deploys[0]!;
    assert.deepEqual(d.metadata.ownerReferences!.map((o) => o.name).sort(), ['vm1-bmc', 'vm2-bmc']);
    assert.ok(d.spec.template.spec.containers[0].args.includes(`--namespace=${NS}`));
    const p1 = status(c, 'vm1-bmc').ports!;
    const p2 = status(c, 'vm2-bmc').ports!;
    assert.notEqual(p1.ipmi, p2.ipmi);
    assert.notEqual(p1.redfish, p2.redfish);
    const declared = (
      d.spec.template.spec.containers[0].ports as Array<{ containerPort: number; protocol: string }>
    ).map((p) => `${p.containerPort}/${p.protocol}`);
    for (const p of [p1, p2]) {
      assert.ok(declared.includes(`${p.ipmi}/UDP`));
      assert.ok(declared.includes(`${p.redfish}/TCP`));
    }
    const svc2 = c.get('Service', NS, 'vbmc-vm2-bmc')!;
    assert.deepEqual(
      svc2.spec.ports.map((p: { port: number; targetPort: number }) => [p.port, p.targetPort]),
      [
        [623, p2.ipmi],
        [80, p2.redfish],
      ],
    );
    const role = c.get('Role', NS, 'kubevirtbmc-agent')!.rules as Array<{
      apiGroups: string[];
      resources: string[];
      verbs: string[];
      resourceNames?: string[];
    }>;
    // Writes to VMs (patches, power subresources, the console) name the served VMs only; reads of
    // VMs and VMIs are namespace-wide (one watch per kind for every BMC).
    const vmRules = role.filter((r) =>
      r.apiGroups.some((g) => g === 'kubevirt.io' || g === 'subresources.kubevirt.io'),
    );
    for (const r of vmRules.filter((x) => x.verbs.some((v) => !['get', 'list', 'watch'].includes(v))))
      assert.deepEqual(r.resourceNames, ['vm1', 'vm2'], `${r.resources.join(',')}: ${r.verbs.join(',')}`);
    assert.ok(
      vmRules.some((r) => r.verbs.includes('patch') && r.resources.includes('virtualmachines')),
      'patching VMs is granted (boot order, media) for the named VMs',
    );
    const reads = vmRules.filter((r) => r.verbs.includes('watch'));
    assert.deepEqual(reads, [
      {
        apiGroups: ['kubevirt.io'],
        resources: ['virtualmachines', 'virtualmachineinstances'],
        verbs: ['get', 'list', 'watch'],
      },
    ]);
    c.writes.length = 0;
    await run();
    assert.deepEqual(c.writes, []);
  });

  test('ports stay stable when another BMC is deleted; freed slots are reused', async () => {
    const { c, run } = setup('shared');
    c.put(bmc(NS, 'b', 'vm1', 'vm1-auth'));
    c.put(bmc(NS, 'c', 'vm1', 'vm1-auth'));
    await run();
    const before = status(c, 'c').ports!;
    c.remove('VirtualMachineBMC', NS, 'b');
    await run();
    assert.deepEqual(status(c, 'c').ports, before);
    c.put(bmc(NS, 'd', 'vm1', 'vm1-auth'));
    await run();
    const all = ['vm1-bmc', 'c', 'd'].map((n) => status(c, n).ports!.ipmi);
    assert.equal(new Set(all).size, 3);
  });

  test('the last BMC gone removes the shared agent', async () => {
    const { c, run } = setup('shared');
    await run();
    c.remove('VirtualMachineBMC', NS, 'vm1-bmc');
    await run();
    assert.deepEqual(c.owned(NS), []);
  });
});

describe('migration between placements', () => {
  for (const [from, to] of [
    ['per-vm', 'shared'],
    ['shared', 'per-vm'],
  ] as const) {
    test(`${from} → ${to} keeps the BMC and its Service, swaps the agent`, async () => {
      const { c } = setup(from);
      await new Reconciler({ placement: from, agent: { image: IMAGE } }).reconcileNamespace(NS, c, c);
      const uid = c.get('VirtualMachineBMC', NS, 'vm1-bmc')!.metadata.uid;
      const ip = c.get('Service', NS, 'vbmc-vm1-bmc')!.spec.clusterIP;
      c.writes.length = 0;
      await new Reconciler({ placement: to, agent: { image: IMAGE } }).reconcileNamespace(NS, c, c);
      assert.equal(c.get('VirtualMachineBMC', NS, 'vm1-bmc')!.metadata.uid, uid);
      assert.equal(c.get('Service', NS, 'vbmc-vm1-bmc')!.spec.clusterIP, ip, 'Service updated in place');
      const deploys = c.ofKind('Deployment', NS).map((d: KObject) => d.metadata.name);
      assert.deepEqual(deploys, [to === 'shared' ? 'kubevirtbmc-agent' : 'vbmc-vm1-bmc']);
      assert.equal(status(c, 'vm1-bmc').placement, to);
      // New agent created before the old one is deleted.
      const createIdx = c.writes.findIndex((w) => w.startsWith('create Deployment'));
      const deleteIdx = c.writes.findIndex((w) => w.startsWith('delete Deployment'));
      assert.ok(createIdx >= 0 && deleteIdx > createIdx, c.writes.join(', '));
    });
  }
});
