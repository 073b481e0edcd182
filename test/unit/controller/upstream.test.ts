/**
 * Upstream KubeVirtBMC compatibility in the controller: the `<vm>-virtbmc` Service, the ServiceReady
 * condition, and taking over an upstream one-shot boot override.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mediaOf } from '../../../src/agent/sources.ts';
import { Reconciler } from '../../../src/controller/reconciler.ts';
import type { KObject, VirtualMachineBMC } from '../../../src/controller/types.ts';
import { takeOverBootOverride } from '../../../src/controller/upstream.ts';
import type { VirtualMachine } from '../../../src/kubevirt/types.ts';
import { bmc, FakeCluster, secret, vm } from './fake-cluster.ts';

const NS = 'lab';

function pxeFirstVm(name: string): KObject {
  return {
    ...vm(NS, name),
    spec: {
      runStrategy: 'Halted',
      template: {
        spec: {
          domain: {
            devices: {
              disks: [
                { name: 'rootdisk', bootOrder: 2, disk: {} },
                { name: 'cd', cdrom: {} },
              ],
              interfaces: [{ name: 'default', bootOrder: 1 }],
            },
          },
        },
      },
    },
  };
}

test('the oldest BMC of a VM also gets the <vm>-virtbmc Service, ClusterIP, same agent and ports', async () => {
  const c = new FakeCluster();
  c.put(vm(NS, 'vm1'));
  c.put(secret(NS, 'auth', { username: 'admin', password: 'secret-pw' }));
  c.put({
    ...bmc(NS, 'a', 'vm1', 'auth', { service: { type: 'NodePort', ipmiNodePort: 30623 } }),
    metadata: { name: 'a', namespace: NS, uid: 'u-a', creationTimestamp: '2026-01-01T00:00:00Z' },
  } as VirtualMachineBMC);
  c.put({
    ...bmc(NS, 'b', 'vm1', 'auth'),
    metadata: { name: 'b', namespace: NS, uid: 'u-b', creationTimestamp: '2026-01-02T00:00:00Z' },
  } as VirtualMachineBMC);
  const r = new Reconciler({ placement: 'per-vm', agent: { image: 'x:1' } });
  const res = await r.reconcileNamespace(NS, c, c);
  assert.deepEqual(res.errors, []);
  const alias = c.get('Service', NS, 'vm1-virtbmc')!;
  const own = c.get('Service', NS, 'vbmc-a')!;
  assert.equal(alias.spec.type, 'ClusterIP');
  assert.deepEqual(alias.spec.selector, own.spec.selector);
  assert.deepEqual(
    alias.spec.ports.map((p: { port: number; nodePort?: number }) => [p.port, p.nodePort]),
    [
      [623, undefined],
      [80, undefined],
    ],
  );
  assert.equal(alias.metadata.ownerReferences![0]!.name, 'a');
  // b's own Service exists; the shared name stays a's (no create conflict was attempted)
  assert.ok(c.get('Service', NS, 'vbmc-b'));
  assert.equal(c.writes.filter((w) => w === 'create Service/vm1-virtbmc').length, 1);
  const conds = (c.get('VirtualMachineBMC', NS, 'a') as VirtualMachineBMC).status!.conditions!;
  const ready = conds.find((x) => x.type === 'Ready')!;
  const svcReady = conds.find((x) => x.type === 'ServiceReady')!;
  assert.equal(svcReady.status, ready.status);
  assert.equal(svcReady.reason, ready.reason);
});

test('an upstream one-shot override becomes our boot-once; status.bootOverride is removed', async () => {
  const c = new FakeCluster();
  c.put(pxeFirstVm('vm1'));
  c.put(secret(NS, 'auth', { username: 'admin', password: 'secret-pw' }));
  c.put({
    ...bmc(NS, 'a', 'vm1', 'auth'),
    status: {
      bootOverride: {
        mode: 'Oneshot',
        vmiUID: 'old-vmi',
        bootOrders: { 'disk:rootdisk': 1, 'interface:default': 0 },
      },
    },
  } as VirtualMachineBMC);
  const r = new Reconciler({ placement: 'per-vm', agent: { image: 'x:1' } });
  assert.deepEqual((await r.reconcileNamespace(NS, c, c)).errors, []);
  const a = c.get('VirtualMachine', NS, 'vm1')!.metadata.annotations!;
  assert.deepEqual(JSON.parse(a['bmc.kubevirt.io/boot-override']!), {
    target: 'Pxe',
    persistence: 'Once',
    vmiUid: 'old-vmi',
    previous: null,
  });
  assert.deepEqual(JSON.parse(a['bmc.kubevirt.io/saved-boot-order']!), {
    'disk/rootdisk': 1,
    'interface/default': null,
  });
  assert.equal((c.get('VirtualMachineBMC', NS, 'a') as VirtualMachineBMC).status!.bootOverride, undefined);
});

test('takeOverBootOverride: persistent needs nothing; our own override wins; Cd and firmware mapped', () => {
  const v = pxeFirstVm('vm1') as VirtualMachine;
  assert.deepEqual(takeOverBootOverride(v, { mode: 'Persistent' }).annotations, {});
  const ours = {
    ...v,
    metadata: { ...v.metadata, annotations: { 'bmc.kubevirt.io/boot-override': '{"target":"Hdd"}' } },
  } as VirtualMachine;
  assert.deepEqual(takeOverBootOverride(ours, { mode: 'Oneshot' }).annotations, {});
  const cdFirst = structuredClone(v);
  const devices = cdFirst.spec!.template!.spec!.domain!.devices!;
  devices.disks![1]!.bootOrder = 1;
  devices.interfaces![0]!.bootOrder = undefined;
  const t = takeOverBootOverride(cdFirst, {
    mode: 'Oneshot',
    bootOrders: { 'cdrom:cd': 0, 'disk:rootdisk': 2 },
    originalFirmware: 'UEFI',
  });
  const stored = JSON.parse(t.annotations['bmc.kubevirt.io/boot-override']!);
  assert.equal(stored.target, 'Cd');
  assert.equal(stored.vmiUid, null);
  assert.deepEqual(stored.savedBootloader, { efi: {} });
  assert.deepEqual(JSON.parse(t.annotations['bmc.kubevirt.io/saved-boot-order']!), { 'disk/cd': null });
});

test("upstream's virtual-media fields reach the agent's settings", () => {
  const m = mediaOf({
    spec: {
      storageClassName: 'standard',
      redfish: { virtualMedia: { tls: { caBundleConfigMapRef: { name: 'custom-ca' } } } },
    },
  }).media;
  assert.equal(m?.storage?.storageClassName, 'standard');
  assert.equal(m?.tls?.certConfigMap, 'custom-ca');
  // virtualMedia.storage.storageClassName wins over the older top-level field
  const both = mediaOf({
    spec: {
      storageClassName: 'standard',
      redfish: { virtualMedia: { storage: { storageClassName: 'fast' } } },
    },
  }).media;
  assert.equal(both?.storage?.storageClassName, 'fast');
});

/** Creates as the API writer does: an existing object of that name is returned, not an error. */
class ApiLikeCluster extends FakeCluster {
  override async create(obj: KObject): Promise<KObject> {
    const have = this.get(obj.kind, obj.metadata.namespace ?? '', obj.metadata.name);
    return have ?? super.create(obj);
  }
}

test("upstream's own <vm>-virtbmc Service (same owner) is adopted; anyone else's is left alone, one Warning", async () => {
  for (const sameOwner of [true, false]) {
    const c = new ApiLikeCluster();
    c.put(vm(NS, 'vm1'));
    c.put(secret(NS, 'auth', { username: 'admin', password: 'secret-pw' }));
    c.put({
      ...bmc(NS, 'a', 'vm1', 'auth'),
      metadata: { name: 'a', namespace: NS, uid: 'u-a' },
    } as VirtualMachineBMC);
    c.put({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'vm1-virtbmc',
        namespace: NS,
        labels: { 'kubevirt.io/virtualmachinebmc-name': 'a' },
        ownerReferences: [
          {
            apiVersion: 'bmc.kubevirt.io/v1beta1',
            kind: 'VirtualMachineBMC',
            name: 'a',
            uid: sameOwner ? 'u-a' : 'someone-else',
            controller: true,
          },
        ],
      },
      spec: { type: 'ClusterIP', selector: { 'kubevirt.io/virtualmachinebmc-name': 'a' }, ports: [] },
    });
    const r = new Reconciler({ placement: 'per-vm', agent: { image: 'x:1' } });
    assert.deepEqual((await r.reconcileNamespace(NS, c, c)).errors, []);
    await r.reconcileNamespace(NS, c, c);
    const svc = c.get('Service', NS, 'vm1-virtbmc')!;
    const own = c.get('Service', NS, 'vbmc-a')!;
    if (sameOwner) {
      assert.deepEqual(svc.spec.selector, own.spec.selector);
      assert.equal(svc.metadata.labels!['app.kubernetes.io/managed-by'], 'kubevirtbmc-controller');
      assert.ok(c.events.some((e) => e.reason === 'ServiceAdopted'));
    } else {
      assert.deepEqual(svc.spec.selector, { 'kubevirt.io/virtualmachinebmc-name': 'a' });
      assert.equal(c.events.filter((e) => e.reason === 'NameTaken').length, 1);
    }
  }
});
