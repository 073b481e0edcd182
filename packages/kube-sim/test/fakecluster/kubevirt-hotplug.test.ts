// Feature gates and CD-ROM hot-plug of the fake KubeVirt, as KubeVirt v1.9.0 (citations in
// docs/kubevirt.md, "Feature gates and hot-plug"): the gates come from the KubeVirt CR; an empty
// CD-ROM needs DeclarativeHotplugVolumes; with the legacy HotplugVolumes gate also on, a hot-plug
// volume added to a running VM's template never reaches the VMI; a CD-ROM volume fixed at start
// (not hot-pluggable) stays in the guest when the VM changes or drops it; duplicate volume names
// are refused. Runs on the real control plane when built (the embedded cluster otherwise).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { KubeClient } from '../../../../src/kube/client.ts';
import { KubeConfigAccess } from '../../../../src/kube/config.ts';
import { KubeApiError } from '../../../../src/kube/errors.ts';
import { startCluster, type TestCluster } from '../../../../test/support/cluster.ts';
import { waitFor } from '../../../../test/support/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
type Obj = Record<string, any>;

const NS = 'default';
const VMS = `/apis/kubevirt.io/v1/namespaces/${NS}/virtualmachines`;
const VMIS = `/apis/kubevirt.io/v1/namespaces/${NS}/virtualmachineinstances`;
const DVS = `/apis/cdi.kubevirt.io/v1beta1/namespaces/${NS}/datavolumes`;
const KV = '/apis/kubevirt.io/v1/namespaces/kubevirt/kubevirts/kubevirt';
const WAIT = { timeoutMs: 30_000, intervalMs: 50 };
const EMPTY_CDROM_DENIED =
  'DeclarativeHotplugVolumes feature gate not enabled, cannot define an empty CD-ROM disk';

function vm(name: string, runStrategy: string, cdVolume?: Obj): Obj {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: NS },
    spec: {
      runStrategy,
      template: {
        spec: {
          domain: {
            devices: {
              disks: [
                { name: 'rootdisk', disk: { bus: 'virtio' } },
                { name: 'cdrom', cdrom: { bus: 'sata' } },
              ],
            },
            resources: { requests: { memory: '512Mi' } },
          },
          volumes: [
            { name: 'rootdisk', containerDisk: { image: 'quay.io/containerdisks/fedora:41' } },
            ...(cdVolume ? [cdVolume] : []),
          ],
        },
      },
    },
  };
}

function dv(name: string, image: string): Obj {
  return {
    apiVersion: 'cdi.kubevirt.io/v1beta1',
    kind: 'DataVolume',
    metadata: { name, namespace: NS },
    spec: {
      source: { http: { url: `http://images.example/${image}` } },
      storage: { resources: { requests: { storage: '1Gi' } } },
    },
  };
}

describe('fake KubeVirt: feature gates and CD-ROM hot-plug', { timeout: 300_000 }, () => {
  let cluster: TestCluster;
  let client: KubeClient;

  before(async () => {
    cluster = await startCluster({ timing: 'fast' });
    client = new KubeClient(KubeConfigAccess.load(cluster.kubeconfigPath), 'hotplug-test');
  });
  after(async () => {
    client?.close();
    await cluster?.stop();
  });

  /** Sets the KubeVirt CR's gates and waits until KubeVirt reports the configuration in effect. */
  async function setGates(developerConfiguration: Obj): Promise<void> {
    const cur = await client.request<Obj>('GET', KV);
    cur.spec.configuration.developerConfiguration = developerConfiguration;
    const out = await client.request<Obj>('PUT', KV, { body: cur });
    await waitFor(
      async () =>
        ((await client.request<Obj>('GET', KV)).status?.observedGeneration ?? 0) >= out.metadata.generation,
      { ...WAIT, what: 'the KubeVirt CR observed' },
    );
  }

  async function importedDv(name: string, image: string): Promise<void> {
    await client.request('POST', DVS, { body: dv(name, image) });
    await waitFor(
      async () => (await client.request<Obj>('GET', `${DVS}/${name}`)).status?.phase === 'Succeeded',
      { ...WAIT, what: `DataVolume ${name} imported` },
    );
  }

  function running(name: string): Promise<Obj> {
    return waitFor(
      async () => {
        const vmi = await client.request<Obj>('GET', `${VMIS}/${name}`).catch(() => null);
        return vmi?.status?.phase === 'Running' ? vmi : null;
      },
      { ...WAIT, what: `a running VMI ${name}` },
    );
  }

  /** Replaces the VM's `cdrom` volume (undefined: removes it) and waits until virt-controller saw it. */
  async function setCdVolume(name: string, volume: Obj | undefined): Promise<void> {
    const cur = await client.request<Obj>('GET', `${VMS}/${name}`);
    const spec = cur.spec.template.spec;
    spec.volumes = spec.volumes.filter((v: Obj) => v.name !== 'cdrom');
    if (volume) spec.volumes.push(volume);
    const out = await client.request<Obj>('PUT', `${VMS}/${name}`, { body: cur });
    await waitFor(
      async () => {
        const v = await client.request<Obj>('GET', `${VMS}/${name}`);
        return (v.status?.observedGeneration ?? 0) >= out.metadata.generation;
      },
      { ...WAIT, what: 'virt-controller observed the change' },
    );
  }

  const cdOf = (vmi: Obj) => (vmi.spec.volumes ?? []).filter((v: Obj) => v.name === 'cdrom');

  test('the KubeVirt CR holds the gates: an empty CD-ROM needs DeclarativeHotplugVolumes (on by default)', async () => {
    const kv = await client.request<Obj>('GET', KV);
    assert.deepEqual(kv.spec.configuration.developerConfiguration, { featureGates: [] }, 'v1.9.0 defaults');
    await client.request('POST', VMS, { body: vm('gate-default', 'Halted') });

    await setGates({ featureGates: [], disabledFeatureGates: ['DeclarativeHotplugVolumes'] });
    const err = await client
      .request('POST', VMS, { body: vm('gate-off', 'Halted') })
      .catch((e: unknown) => e);
    assert.ok(err instanceof KubeApiError, String(err));
    assert.equal(err.code, 422);
    assert.match(
      err.message,
      /admission webhook "virtualmachine-validator\.kubevirt\.io" denied the request/,
    );
    assert.ok(err.message.includes(EMPTY_CDROM_DENIED), err.message);
    // the same VM with a volume on its CD-ROM is fine
    await client.request('POST', VMS, {
      body: vm('gate-off-full', 'Halted', { name: 'cdrom', containerDisk: { image: 'quay.io/x/iso:1' } }),
    });
    await setGates({ featureGates: [] });
  });

  test('two volumes of one name are refused, as virt-api does', async () => {
    const body = vm('dupes', 'Halted', { name: 'rootdisk', containerDisk: { image: 'quay.io/x/iso:1' } });
    const err = await client.request('POST', VMS, { body }).catch((e: unknown) => e);
    assert.ok(err instanceof KubeApiError, String(err));
    assert.equal(err.code, 422);
    assert.ok(
      err.message.includes(
        'spec.template.spec.volumes[1] and spec.template.spec.volumes[0] must not have the same Name.',
      ),
      err.message,
    );
  });

  test('with HotplugVolumes also on, a hot-plug volume added to the running VM never reaches the VMI', async () => {
    await importedDv('legacy-cd', 'legacy.iso');
    await setGates({ featureGates: ['HotplugVolumes'] });
    await client.request('POST', VMS, { body: vm('legacy', 'Always') });
    await running('legacy');
    await setCdVolume('legacy', { name: 'cdrom', dataVolume: { name: 'legacy-cd', hotpluggable: true } });
    let vmi = await client.request<Obj>('GET', `${VMIS}/legacy`);
    assert.deepEqual(cdOf(vmi), [], 'declarative hot-plug did nothing');
    assert.equal(
      (vmi.status.volumeStatus ?? []).find((s: Obj) => s.name === 'cdrom'),
      undefined,
      'no volume status for the drive',
    );
    // the legacy gate off again: the VMI gets the volume
    await setGates({ featureGates: [] });
    vmi = await waitFor(
      async () => {
        const v = await client.request<Obj>('GET', `${VMIS}/legacy`);
        return (v.status.volumeStatus ?? []).some((s: Obj) => s.name === 'cdrom' && s.phase === 'Ready')
          ? v
          : null;
      },
      { ...WAIT, what: 'the volume attached once declarative hot-plug works' },
    );
    assert.deepEqual(cdOf(vmi), [{ name: 'cdrom', dataVolume: { name: 'legacy-cd', hotpluggable: true } }]);
  });

  test('a CD-ROM volume fixed at start stays in the guest when the VM swaps or drops it', async () => {
    await importedDv('fixed-old', 'old.iso');
    await importedDv('fixed-new', 'new.iso');
    await client.request('POST', VMS, {
      body: vm('fixed', 'Always', { name: 'cdrom', dataVolume: { name: 'fixed-old' } }),
    });
    await running('fixed');
    await setCdVolume('fixed', { name: 'cdrom', dataVolume: { name: 'fixed-new', hotpluggable: true } });
    let vmi = await client.request<Obj>('GET', `${VMIS}/fixed`);
    assert.deepEqual(
      cdOf(vmi),
      [{ name: 'cdrom', dataVolume: { name: 'fixed-old' } }],
      'the old image stays',
    );
    const names = vmi.spec.volumes.map((v: Obj) => v.name);
    assert.deepEqual(names, [...new Set(names)], 'no two volumes of one name');
    const restart = await waitFor(
      async () =>
        (await client.request<Obj>('GET', `${VMS}/fixed`)).status?.conditions?.find(
          (c: Obj) => c.type === 'RestartRequired',
        ),
      { ...WAIT, what: 'RestartRequired' },
    );
    assert.equal(restart.status, 'True');

    await setCdVolume('fixed', undefined);
    vmi = await client.request<Obj>('GET', `${VMIS}/fixed`);
    assert.deepEqual(cdOf(vmi), [{ name: 'cdrom', dataVolume: { name: 'fixed-old' } }], 'eject waits too');
  });
});
