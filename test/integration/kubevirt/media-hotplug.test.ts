// Virtual media where KubeVirt's hot-plug does not reach the guest (docs/kubevirt.md, "Feature gates
// and hot-plug"): with the legacy HotplugVolumes gate on beside DeclarativeHotplugVolumes the VMI
// never gets the volume, so the slot never says Inserted; a CD-ROM volume fixed at the VM's start
// (not hot-pluggable) stays the guest's image when the media is changed or ejected while it runs;
// with DeclarativeHotplugVolumes off KubeVirt refuses the empty drive an eject leaves, and the BMC
// says why. The gates are the KubeVirt CR's, as on a real cluster.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { KubeClient } from '../../../src/kube/client.ts';
import { KubeConfigAccess } from '../../../src/kube/config.ts';
import { hotplugCondition, hotplugFromConditions, type KubeVirtCr } from '../../../src/kubevirt/hotplug.ts';
import { dataVolumeManifest, dataVolumeName } from '../../../src/kubevirt/media.ts';
import { isMachineError, type Machine } from '../../../src/machine/index.ts';
import { cachedIn, kubevirtEnv, NAMESPACE, uniqueName, vmManifest } from '../../support/kubevirt-fixtures.ts';
import { waitFor } from '../../support/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
type Obj = Record<string, any>;

const env = kubevirtEnv('fast');
const KV = '/apis/kubevirt.io/v1/namespaces/kubevirt/kubevirts/kubevirt';
const VMS = `/apis/kubevirt.io/v1/namespaces/${NAMESPACE}/virtualmachines`;
const DVS = `/apis/cdi.kubevirt.io/v1beta1/namespaces/${NAMESPACE}/datavolumes`;
const WAIT = { timeoutMs: 20_000 };

const slot = (m: Machine) => m.getMediaSlots()[0]!;

describe('virtual media and KubeVirt hot-plug', () => {
  let admin: KubeClient | undefined;
  const kube = () => {
    admin ??= new KubeClient(KubeConfigAccess.load(env.sim.kubeconfigPath), 'media-hotplug-test');
    return admin;
  };
  after(() => admin?.close());

  async function setGates(developerConfiguration: Obj): Promise<void> {
    const cur = await kube().request<Obj>('GET', KV);
    cur.spec.configuration.developerConfiguration = developerConfiguration;
    const out = await kube().request<Obj>('PUT', KV, { body: cur });
    await waitFor(
      async () =>
        ((await kube().request<Obj>('GET', KV)).status?.observedGeneration ?? 0) >= out.metadata.generation,
      { ...WAIT, what: 'KubeVirt follows its CR' },
    );
  }

  async function observed(name: string): Promise<void> {
    await waitFor(
      async () => {
        const v = await kube().request<Obj>('GET', `${VMS}/${name}`);
        return (v.status?.observedGeneration ?? 0) >= v.metadata.generation;
      },
      { ...WAIT, what: 'virt-controller saw the VM' },
    );
  }

  async function running(name: string): Promise<Machine> {
    const m = env.backend.machine(name);
    await cachedIn(m, 'On');
    await waitFor(async () => (await env.user.getVmi(name))?.status?.phase === 'Running', {
      ...WAIT,
      what: 'VMI Running',
    });
    return m;
  }

  test('with HotplugVolumes also on, an insert into a running VM is never reported Inserted', async () => {
    await setGates({ featureGates: ['HotplugVolumes'] });
    try {
      const name = uniqueName('hp-legacy');
      await env.user.createVm(vmManifest(name, { runStrategy: 'Always' }));
      const m = await running(name);
      await m.insertMedia('Cd', { image: 'http://images.example/legacy.iso' });
      await waitFor(async () => (await env.user.listDataVolumes(name))[0]?.status?.phase === 'Succeeded', {
        ...WAIT,
        what: 'imported',
      });
      await observed(name);
      const vmi = await env.user.getVmi(name);
      assert.equal(
        vmi?.spec?.volumes?.find((v) => v.name === 'cdrom'),
        undefined,
        'KubeVirt did not attach it',
      );
      const s = slot(m);
      assert.equal(s.state, 'Inserting', 'never Inserted without the VMI holding the volume');
      assert.match(
        s.message ?? '',
        /DeclarativeHotplugVolumes feature gate on and the HotplugVolumes gate off/,
      );
    } finally {
      await setGates({ featureGates: [] });
    }
  });

  test('an image fixed at start stays the guest’s when the media is changed or ejected while running', async () => {
    const name = uniqueName('hp-fixed');
    // as an earlier kubevirtbmc left it: a plain (not hot-pluggable) volume, inserted while off
    const old = dataVolumeName(name, 'Cd', 'http://images.example/old.iso', Date.now());
    const manifest = vmManifest(name, { runStrategy: 'Always' });
    manifest.spec!.template!.spec!.volumes!.push({ name: 'cdrom', dataVolume: { name: old } });
    const created = await env.user.createVm(manifest);
    await kube().request('POST', DVS, {
      body: dataVolumeManifest({
        namespace: NAMESPACE,
        name: old,
        vm: created,
        slotId: 'Cd',
        url: 'http://images.example/old.iso',
      }),
    });
    const m = await running(name);
    await waitFor(() => slot(m).state === 'Inserted', { ...WAIT, what: 'old image Inserted' });

    await m.insertMedia('Cd', { image: 'http://images.example/new.iso' });
    await observed(name);
    let s = slot(m);
    assert.equal(s.state, 'Inserted');
    assert.equal(s.imageName, 'old.iso', 'the guest still has the old image');
    assert.match(
      s.message ?? '',
      /keeps the image it started with until it restarts.*new image is used from the next start/,
    );
    const vmi = await env.user.getVmi(name);
    assert.deepEqual(
      vmi?.spec?.volumes?.filter((v) => v.name === 'cdrom'),
      [{ name: 'cdrom', dataVolume: { name: old } }],
    );

    await m.ejectMedia('Cd');
    await observed(name);
    s = slot(m);
    assert.equal(s.state, 'Inserted', 'not Empty: the guest still has it');
    assert.equal(s.imageName, 'old.iso');
    assert.match(s.message ?? '', /eject takes effect at the next start/);
  });

  test('with DeclarativeHotplugVolumes off, eject is refused with the reason, and nothing changes', async () => {
    const name = uniqueName('hp-off');
    await env.user.createVm(vmManifest(name, { runStrategy: 'Halted' }));
    const m = env.backend.machine(name);
    await cachedIn(m, 'Off');
    await m.insertMedia('Cd', { image: 'http://images.example/keep.iso' });
    await setGates({ featureGates: [], disabledFeatureGates: ['DeclarativeHotplugVolumes'] });
    try {
      await assert.rejects(
        m.ejectMedia('Cd'),
        (err) =>
          isMachineError(err) &&
          err.code === 'NotSupported' &&
          /DeclarativeHotplugVolumes feature gate is off/.test(err.message),
      );
      const vm = await env.user.getVm(name);
      assert.ok(
        vm.spec?.template?.spec?.volumes?.some((v) => v.name === 'cdrom'),
        'the image stays',
      );
    } finally {
      await setGates({ featureGates: [] });
    }
  });

  test('told the gates (as the controller reads them from the KubeVirt CR), a running VM refuses media changes up front', async () => {
    const told = async () => {
      const list = (await kube().request<{ items: KubeVirtCr[] }>('GET', '/apis/kubevirt.io/v1/kubevirts'))
        .items;
      const [status, reason, message] = hotplugCondition(list);
      return hotplugFromConditions([{ type: 'MediaHotplugAvailable', status, reason, message }]);
    };
    const name = uniqueName('hp-told');
    await env.user.createVm(vmManifest(name, { runStrategy: 'Manual' }));
    await setGates({ featureGates: ['HotplugVolumes'] });
    try {
      const support = await told();
      assert.equal(support?.state, 'legacy-on');
      env.backend.setHotplugSupport(name, support);
      const m = env.backend.machine(name);
      await cachedIn(m, 'Off');
      // Off: the image is attached at the next start, so the insert is accepted.
      await m.insertMedia('Cd', { image: 'http://images.example/first.iso' });
      await m.power('On');
      await running(name);
      assert.match(slot(m).message ?? '', /^Media cannot be changed while this VM runs: .*HotplugVolumes/);
      const before = await env.user.getVm(name);
      const dvs = (await env.user.listDataVolumes(name)).length;
      for (const change of [
        () => m.insertMedia('Cd', { image: 'http://images.example/second.iso' }),
        () => m.ejectMedia('Cd'),
      ]) {
        await assert.rejects(
          change(),
          (err) =>
            isMachineError(err) &&
            err.code === 'NotSupported' &&
            /does not hot-plug images into a running VM.*Power the VM off/.test(err.message),
        );
      }
      assert.deepEqual((await env.user.getVm(name)).spec, before.spec, 'the VM is unchanged');
      assert.equal((await env.user.listDataVolumes(name)).length, dvs, 'no DataVolume created');
      // The same image again is no change: answered, not refused.
      assert.equal(
        (await m.insertMedia('Cd', { image: 'http://images.example/first.iso' })).imageName,
        'first.iso',
      );
    } finally {
      env.backend.setHotplugSupport(name, undefined);
      await setGates({ featureGates: [] });
    }
    assert.equal((await told())?.state, 'available', 'KubeVirt 1.9 defaults again');
  });
});
