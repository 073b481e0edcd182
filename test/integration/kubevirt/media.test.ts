import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import type { VirtualMachine } from '../../../src/kubevirt/types.ts';
import { isMachineError, type Machine, type MachineEvent } from '../../../src/machine/index.ts';
import {
  kubevirtEnv,
  NAMESPACE,
  uniqueName,
  type VmOptions,
  vmManifest,
} from '../../support/kubevirt-fixtures.ts';
import { waitFor } from '../../support/wait.ts';

const env = kubevirtEnv('fast');

async function vm(
  options: VmOptions,
  edit?: (vm: VirtualMachine) => void,
): Promise<{ name: string; m: Machine }> {
  const name = uniqueName('media');
  const manifest = vmManifest(name, options);
  edit?.(manifest);
  await env.user.createVm(manifest);
  const m = env.backend.machine(name);
  const initial = options.runStrategy === 'Always' ? 'On' : 'Off';
  await waitFor(
    () => {
      try {
        return m.getPowerState() === initial;
      } catch {
        return false;
      }
    },
    { timeoutMs: 10_000, what: `VM ${initial}` },
  );
  return { name, m };
}

const slot = (m: Machine) => m.getMediaSlots()[0]!;
const cdVolume = (v: VirtualMachine) => v.spec?.template?.spec?.volumes?.find((x) => x.name === 'cdrom');

describe('virtual media through CDI DataVolumes', () => {
  test('insert while off: a hot-pluggable volume, progress from the DataVolume, then the VM boots the image', async () => {
    const { name, m } = await vm({ runStrategy: 'Halted' });
    const progress: number[] = [];
    m.on((e: MachineEvent) => {
      if (e.type === 'media' && e.slot.progressPercent !== null) progress.push(e.slot.progressPercent);
    });
    const accepted = await m.insertMedia('Cd', { image: 'http://images.example/alpine-3.20.iso' });
    assert.equal(accepted.state, 'Inserting');
    const dvs = await env.user.listDataVolumes(name);
    assert.equal(dvs.length, 1);
    assert.match(
      dvs[0]!.metadata.name,
      new RegExp(`^${name}-vmedia-cd-[0-9a-f]{8}$`),
      'never named after the VM',
    );
    const v = await env.user.getVm(name);
    assert.deepEqual(
      cdVolume(v),
      { name: 'cdrom', dataVolume: { name: dvs[0]!.metadata.name, hotpluggable: true } },
      'hot-pluggable even while off, so a later change reaches the running guest',
    );
    await waitFor(() => slot(m).state === 'Inserted', { timeoutMs: 10_000, what: 'Inserted' });
    assert.ok(
      progress.some((p) => p > 0 && p < 100),
      `intermediate progress seen: ${progress}`,
    );
    assert.equal(slot(m).progressPercent, 100);

    await m.setBootOverride({ target: 'Cd', persistence: 'Once' });
    await m.power('On');
    await waitFor(
      () =>
        /Booting from CD-ROM 'cdrom' \(image http:\/\/images\.example\/alpine-3\.20\.iso\)/.test(
          env.sim.consoleTranscript(NAMESPACE, name),
        ),
      {
        timeoutMs: 10_000,
        what: 'the guest boots the image',
      },
    );
  });

  test('insert while running hot-plugs; re-insert swaps and collects the old DataVolume; eject keeps the drive', async () => {
    const { name, m } = await vm({ runStrategy: 'Always' });
    await m.insertMedia('Cd', { image: 'https://images.example/first.iso' });
    const first = (await env.user.listDataVolumes(name))[0]!.metadata.name;
    assert.deepEqual(cdVolume(await env.user.getVm(name)), {
      name: 'cdrom',
      dataVolume: { name: first, hotpluggable: true },
    });
    assert.equal(slot(m).transferProtocol, 'HTTPS');
    assert.equal(slot(m).imageName, 'first.iso');

    // Same image again: nothing changes, no new DataVolume.
    await m.insertMedia('Cd', { image: 'https://images.example/first.iso' });
    assert.deepEqual(
      (await env.user.listDataVolumes(name)).map((d) => d.metadata.name),
      [first],
    );

    // Another image: a new DataVolume, the drive swapped, the old one deleted.
    await m.insertMedia('Cd', { image: 'https://images.example/second.iso' });
    assert.equal(slot(m).imageName, 'second.iso');
    const now = await env.user.listDataVolumes(name);
    assert.equal(now.length, 1, 'the first DataVolume was collected');
    assert.notEqual(now[0]!.metadata.name, first);
    assert.equal(cdVolume(await env.user.getVm(name))?.dataVolume?.name, now[0]!.metadata.name);
    await waitFor(async () => (await env.user.listDataVolumes(name))[0]?.status?.phase === 'Succeeded', {
      timeoutMs: 10_000,
      what: 'import done',
    });

    await m.ejectMedia('Cd');
    await waitFor(() => slot(m).state === 'Empty', { what: 'Empty' });
    const ejected = await env.user.getVm(name);
    assert.equal(cdVolume(ejected), undefined, 'the volume is gone');
    assert.ok(
      ejected.spec?.template?.spec?.domain?.devices?.disks?.some((d) => d.name === 'cdrom'),
      'the drive stays',
    );
    assert.deepEqual(await env.user.listDataVolumes(name), []);
    await m.ejectMedia('Cd'); // idempotent
    assert.equal(ejected.spec?.runStrategy, 'Always');
  });

  // A hot-plugged image is Inserted only once the VMI reports the volume Ready (as KubeVirt does after
  // the import and the attachment pod), and the guest sees it.
  test('a hot-plugged image reaches Inserted once the VMI reports the volume Ready', async () => {
    const { name, m } = await vm({ runStrategy: 'Always' });
    await m.insertMedia('Cd', { image: 'https://images.example/live.iso' });
    await waitFor(() => slot(m).state === 'Inserted', { timeoutMs: 10_000, what: 'Inserted' });
    await waitFor(
      () => /\[hotplug\] media attached to 'cdrom'/.test(env.sim.consoleTranscript(NAMESPACE, name)),
      {
        what: 'the guest sees the media',
      },
    );
  });

  test('a failing URL ends in Failed with CDI’s message; eject cleans up', async () => {
    const { name, m } = await vm({ runStrategy: 'Halted' });
    await m.insertMedia('Cd', { image: 'http://invalid/missing.iso' });
    await waitFor(() => slot(m).state === 'Failed', { timeoutMs: 10_000, what: 'Failed' });
    assert.match(slot(m).message ?? '', /no such host/);
    await m.ejectMedia('Cd');
    assert.equal(slot(m).state, 'Empty');
    assert.deepEqual(await env.user.listDataVolumes(name), []);
    // Re-inserting after a failure works.
    await m.insertMedia('Cd', { image: 'http://images.example/ok.iso' });
    await waitFor(() => slot(m).state === 'Inserted', {
      timeoutMs: 10_000,
      what: 'Inserted after a failure',
    });
  });

  test('credentials go to a Secret referenced and owned by the DataVolume, never into the URL; eject deletes both', async () => {
    const { name, m } = await vm({ runStrategy: 'Halted' });
    const accepted = await m.insertMedia('Cd', { image: 'http://alice:s3cret@images.example/private.iso' });
    assert.ok(!JSON.stringify(accepted).includes('s3cret'));
    const dvName = (await env.user.listDataVolumes(name))[0]!.metadata.name;
    const dv = (await env.user.api.getNamespacedCustomObject({
      group: 'cdi.kubevirt.io',
      version: 'v1beta1',
      namespace: NAMESPACE,
      plural: 'datavolumes',
      name: dvName,
    })) as { spec: { source: { http: { url: string; secretRef?: string } } } };
    assert.equal(dv.spec.source.http.url, 'http://images.example/private.iso');
    const core = env.kc.makeApiClient(CoreV1Api);
    const secret = await core.readNamespacedSecret({
      namespace: NAMESPACE,
      name: dv.spec.source.http.secretRef!,
    });
    assert.equal(Buffer.from(secret.data?.accessKeyId ?? '', 'base64').toString(), 'alice');
    assert.equal(Buffer.from(secret.data?.secretKey ?? '', 'base64').toString(), 's3cret');
    assert.equal(secret.metadata?.ownerReferences?.[0]?.kind, 'DataVolume', 'owned by its DataVolume');
    await m.ejectMedia('Cd');
    // The garbage collector deletes the Secret with its DataVolume.
    await waitFor(
      async () => {
        try {
          await core.readNamespacedSecret({ namespace: NAMESPACE, name: dv.spec.source.http.secretRef! });
          return false;
        } catch (err) {
          return (err as { code?: number }).code === 404;
        }
      },
      { what: 'the credentials Secret deleted' },
    );
  });

  test('no CD-ROM: no slot, and NotSupported naming what to add', async () => {
    const { m } = await vm({ runStrategy: 'Halted', cdrom: false });
    assert.deepEqual(m.getMediaSlots(), []);
    await assert.rejects(
      m.insertMedia('Cd', { image: 'http://x.example/a.iso' }),
      (err) => isMachineError(err) && err.code === 'NotSupported' && /cdrom/.test(err.message),
    );
  });

  test("a CD-ROM holding the user's own volume is never taken over", async () => {
    const { name, m } = await vm({ runStrategy: 'Halted' }, (v) => {
      v.spec!.template!.spec!.volumes!.push({
        name: 'cdrom',
        containerDisk: { image: 'example/my-tools-iso' },
      });
    });
    const before = await env.user.getVm(name);
    assert.deepEqual(m.getMediaSlots(), []);
    await assert.rejects(
      m.insertMedia('Cd', { image: 'http://x.example/a.iso' }),
      (err) => isMachineError(err) && err.code === 'NotSupported' && /empty CD-ROM/.test(err.message),
    );
    assert.deepEqual((await env.user.getVm(name)).spec, before.spec, 'the VM is unchanged');
    assert.deepEqual(await env.user.listDataVolumes(name), []);
  });
});
