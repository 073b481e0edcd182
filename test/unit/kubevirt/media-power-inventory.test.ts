import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseQuantity } from '../../../src/kube/quantity.ts';
import { KubeApiError } from '../../../src/kubevirt/errors.ts';
import { identityOf, inventoryOf, parseBytes } from '../../../src/kubevirt/inventory.ts';
import {
  dataVolumeManifest,
  dataVolumeName,
  driveVolumeOps,
  isMediaDataVolumeName,
  mediaDrive,
  mediaSlotOf,
  orphanedDataVolumes,
  parseProgress,
} from '../../../src/kubevirt/media.ts';
import { type PowerContext, planPower, runPowerPlan } from '../../../src/kubevirt/power.ts';
import type { DataVolume, VirtualMachine } from '../../../src/kubevirt/types.ts';

function vm(volumes: unknown[] = []): VirtualMachine {
  return {
    metadata: {
      name: 'vm1',
      namespace: 'ns',
      uid: '0f0e0d0c-0b0a-4908-8706-050403020100',
      resourceVersion: '7',
    },
    spec: {
      runStrategy: 'Manual',
      template: {
        spec: {
          domain: {
            cpu: { sockets: 2, cores: 4, threads: 1 },
            memory: { guest: '4Gi' },
            firmware: { uuid: 'A1B2C3D4-0000-4000-8000-000000000001', serial: 'SER-1' },
            devices: {
              disks: [
                { name: 'root', disk: { bus: 'virtio' } },
                { name: 'cdrom', cdrom: { bus: 'sata' } },
              ],
              interfaces: [{ name: 'default', masquerade: {}, macAddress: '52:54:00:AA:BB:CC' }],
            },
          },
          volumes: [{ name: 'root', dataVolume: { name: 'vm1-root' } }, ...(volumes as never[])],
        },
      },
      dataVolumeTemplates: [
        {
          metadata: { name: 'vm1-root' },
          spec: { storage: { resources: { requests: { storage: '20Gi' } } } },
        },
      ],
    },
  };
}

describe('DataVolume naming', () => {
  test('never the VM name, unique per insert, DNS-1123, at most 63 characters', () => {
    const a = dataVolumeName('vm1', 'Cd', 'http://x/a.iso', 1);
    const b = dataVolumeName('vm1', 'Cd', 'http://x/a.iso', 2);
    assert.match(a, /^vm1-vmedia-cd-[0-9a-f]{8}$/);
    assert.notEqual(a, b);
    const long = dataVolumeName(`${'a'.repeat(60)}-b`, 'Cd', 'http://x/a.iso', 1);
    assert.ok(long.length <= 63, long);
    assert.match(long, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    assert.ok(isMediaDataVolumeName('vm1', a));
    assert.ok(!isMediaDataVolumeName('vm1', 'vm1'));
    assert.ok(!isMediaDataVolumeName('vm1', 'vm1-root'));
  });

  test('the manifest has an http source without credentials, the VM label and owner', () => {
    const dv = dataVolumeManifest({
      namespace: 'ns',
      name: 'vm1-vmedia-cd-1',
      vm: vm(),
      slotId: 'Cd',
      url: 'http://x/a.iso',
      secretRef: 's',
    });
    assert.deepEqual(dv.spec?.source, { http: { url: 'http://x/a.iso', secretRef: 's' } });
    assert.equal(dv.metadata?.labels?.['bmc.kubevirt.io/vm'], 'vm1');
    assert.equal(dv.metadata?.ownerReferences?.[0]?.kind, 'VirtualMachine');
    assert.equal(dv.metadata?.annotations, undefined);
  });

  test("the manifest carries its creator's user name for the DataVolume admission policy", () => {
    const dv = dataVolumeManifest({
      namespace: 'ns',
      name: 'vm1-vmedia-cd-1',
      vm: vm(),
      slotId: 'Cd',
      url: 'http://x/a.iso',
      createdBy: 'system:serviceaccount:ns:vbmc-bmc1',
    });
    assert.deepEqual(dv.metadata?.annotations, {
      'bmc.kubevirt.io/created-by': 'system:serviceaccount:ns:vbmc-bmc1',
    });
  });
});

describe('the CD-ROM drive', () => {
  test('an empty cdrom is the drive; insert always adds a hot-pluggable volume (off or running)', () => {
    const v = vm();
    assert.equal(mediaDrive(v)?.disk, 'cdrom');
    assert.deepEqual(driveVolumeOps(v, 'vm1-vmedia-cd-1'), [
      {
        op: 'add',
        path: '/spec/template/spec/volumes/-',
        value: { name: 'cdrom', dataVolume: { name: 'vm1-vmedia-cd-1', hotpluggable: true } },
      },
    ]);
  });

  test('re-insert replaces our volume; eject removes it and keeps the disk', () => {
    const v = vm([{ name: 'cdrom', dataVolume: { name: 'vm1-vmedia-cd-00000001' } }]);
    assert.deepEqual(driveVolumeOps(v, 'vm1-vmedia-cd-2'), [
      {
        op: 'replace',
        path: '/spec/template/spec/volumes/1',
        value: { name: 'cdrom', dataVolume: { name: 'vm1-vmedia-cd-2', hotpluggable: true } },
      },
    ]);
    assert.deepEqual(driveVolumeOps(v, null), [{ op: 'remove', path: '/spec/template/spec/volumes/1' }]);
  });

  test("a cdrom holding the user's own volume is never taken over", () => {
    const v = vm([{ name: 'cdrom', containerDisk: { image: 'my/iso' } }]);
    assert.equal(mediaDrive(v), null);
    assert.deepEqual(driveVolumeOps(v, 'x'), []);
  });
});

describe('slot state from the DataVolume', () => {
  const inserted = vm([{ name: 'cdrom', dataVolume: { name: 'vm1-vmedia-cd-00000001' } }]);
  const dv = (phase: string, progress?: string, message?: string): Map<string, DataVolume> =>
    new Map([
      [
        'vm1-vmedia-cd-00000001',
        {
          metadata: { name: 'vm1-vmedia-cd-00000001', labels: { 'bmc.kubevirt.io/vm': 'vm1' } },
          spec: { source: { http: { url: 'https://img.example/os/alpine.iso' } } },
          status: {
            phase,
            ...(progress ? { progress } : {}),
            conditions: message ? [{ type: 'Running', status: 'False', message }] : [],
          },
        },
      ],
    ]);

  test('progress, success and failure', () => {
    assert.deepEqual(
      { ...mediaSlotOf(inserted, dv('ImportInProgress', '45.20%'), undefined) },
      {
        id: 'Cd',
        name: 'Virtual CD',
        mediaTypes: ['CD', 'DVD'],
        state: 'Inserting',
        image: 'https://img.example/os/alpine.iso',
        imageName: 'alpine.iso',
        writeProtected: true,
        transferProtocol: 'HTTPS',
        progressPercent: 45,
        message: null,
      },
    );
    assert.equal(mediaSlotOf(inserted, dv('Succeeded', '100.0%'), undefined)?.state, 'Inserted');
    const failed = mediaSlotOf(
      inserted,
      dv('Failed', undefined, 'Unable to connect to http data source'),
      undefined,
    );
    assert.equal(failed?.state, 'Failed');
    assert.match(failed?.message ?? '', /Unable to connect/);
    assert.equal(mediaSlotOf(vm(), new Map(), undefined)?.state, 'Empty');
    assert.equal(parseProgress('N/A'), null);
    assert.equal(parseProgress('100.0%'), 100);
  });

  test('garbage: only unreferenced media DataVolumes of this VM', () => {
    const dvs: DataVolume[] = [
      { metadata: { name: 'vm1-vmedia-cd-00000001', labels: { 'bmc.kubevirt.io/vm': 'vm1' } } },
      { metadata: { name: 'vm1-vmedia-cd-00000002', labels: { 'bmc.kubevirt.io/vm': 'vm1' } } },
      { metadata: { name: 'vm1-root', labels: { 'bmc.kubevirt.io/vm': 'vm1' } } },
      { metadata: { name: 'vm2-vmedia-cd-00000003', labels: { 'bmc.kubevirt.io/vm': 'vm2' } } },
    ];
    assert.deepEqual(orphanedDataVolumes(inserted, dvs), ['vm1-vmedia-cd-00000002']);
    assert.deepEqual(orphanedDataVolumes(inserted, dvs, 'vm1-vmedia-cd-00000002'), []);
  });
});

describe('power plans', () => {
  const base: PowerContext = {
    state: 'On',
    strategy: 'Always',
    bootChangePending: false,
    resetSupported: true,
    softRebootSupported: true,
  };
  const steps = (p: ReturnType<typeof planPower>) =>
    p.kind === 'call' ? p.steps.map((s) => `${s.action} ${JSON.stringify(s.body)}`) : p.kind;

  test('the mapping onto subresources', () => {
    assert.deepEqual(steps(planPower('On', { ...base, state: 'Off' })), ['start {}']);
    assert.equal(steps(planPower('On', base)), 'noop');
    assert.deepEqual(steps(planPower('GracefulShutdown', base)), ['stop {}']);
    assert.deepEqual(steps(planPower('ForceOff', base)), ['stop {"gracePeriod":0}']);
    assert.deepEqual(steps(planPower('ForceRestart', base)), [
      'reset {}',
      'restart {"gracePeriodSeconds":0}',
    ]);
    assert.deepEqual(steps(planPower('GracefulRestart', base)), ['softreboot {}', 'restart {}']);
    assert.deepEqual(steps(planPower('PowerCycle', base)), ['restart {"gracePeriodSeconds":0}']);
    assert.deepEqual(steps(planPower('PowerCycle', { ...base, state: 'Off' })), ['start {}']);
    assert.deepEqual(steps(planPower('Pause', base)), ['pause {}']);
    assert.deepEqual(steps(planPower('Resume', { ...base, state: 'Paused' })), ['unpause {}']);
  });

  test('a pending boot change makes restarts create a new VMI', () => {
    assert.deepEqual(steps(planPower('ForceRestart', { ...base, bootChangePending: true })), [
      'restart {"gracePeriodSeconds":0}',
    ]);
    assert.deepEqual(steps(planPower('GracefulRestart', { ...base, bootChangePending: true })), [
      'restart {}',
    ]);
  });

  test('state refusals and idempotence', () => {
    assert.equal(steps(planPower('ForceRestart', { ...base, state: 'Off' })), 'invalid');
    assert.equal(steps(planPower('GracefulRestart', { ...base, state: 'Paused' })), 'invalid');
    assert.equal(steps(planPower('Pause', { ...base, state: 'Off' })), 'invalid');
    assert.equal(steps(planPower('ForceOff', { ...base, state: 'Off' })), 'noop');
    assert.equal(steps(planPower('GracefulShutdown', { ...base, state: 'PoweringOff' })), 'noop');
    assert.equal(steps(planPower('Pause', { ...base, state: 'Paused' })), 'noop');
    assert.equal(steps(planPower('Resume', base)), 'noop');
    const on = planPower('On', { ...base, state: 'Off' });
    assert.ok(on.kind === 'call' && on.alreadyDone?.test('VM is already running'));
  });

  test('fallbacks: softreboot without agent or ACPI, reset on a cluster without it', async () => {
    const graceful = planPower('GracefulRestart', base);
    assert.ok(graceful.kind === 'call');
    const called: string[] = [];
    const done = await runPowerPlan(graceful.steps, async (s) => {
      called.push(s.action);
      if (s.action === 'softreboot')
        throw new KubeApiError(
          409,
          'Conflict',
          'VMI neither have the agent connected nor the ACPI feature enabled',
        );
    });
    assert.deepEqual(called, ['softreboot', 'restart']);
    assert.equal(done.action, 'restart');

    const force = planPower('ForceRestart', base);
    assert.ok(force.kind === 'call');
    called.length = 0;
    await runPowerPlan(force.steps, async (s) => {
      called.push(s.action);
      if (s.action === 'reset')
        throw new KubeApiError(404, 'NotFound', 'the server could not find the requested resource');
    });
    assert.deepEqual(called, ['reset', 'restart']);

    // A VMI that is really gone is not a reason to fall back.
    await assert.rejects(
      runPowerPlan(force.steps, async () => {
        throw new KubeApiError(404, 'NotFound', 'virtualmachineinstance.kubevirt.io "vm1" not found', {
          name: 'vm1',
        });
      }),
      /not found/,
    );
  });
});

describe('inventory and identity', () => {
  test('from the spec and the running VMI', () => {
    const v = vm();
    const inv = inventoryOf(
      v,
      {
        metadata: { name: 'vm1' },
        status: {
          phase: 'Running',
          interfaces: [{ name: 'default', mac: '52:54:00:aa:bb:cc', ipAddresses: ['10.0.0.5', 'fd00::5'] }],
        },
      },
      new Map(),
    );
    assert.deepEqual(inv.processors, {
      sockets: 2,
      coresPerSocket: 4,
      threadsPerCore: 1,
      model: 'KubeVirt vCPU',
      architecture: 'x86-64',
    });
    assert.equal(inv.memoryBytes, 4 * 2 ** 30);
    assert.deepEqual(inv.nics, [
      {
        id: 'default',
        name: 'default',
        mac: '52:54:00:aa:bb:cc',
        macSource: 'configured',
        ipv4: ['10.0.0.5'],
        ipv6: ['fd00::5'],
        linkUp: true,
      },
    ]);
    assert.deepEqual(inv.disks, [
      { id: 'root', name: 'root', kind: 'disk', bus: 'virtio', sizeBytes: 20 * 2 ** 30 },
      { id: 'cdrom', name: 'cdrom', kind: 'cdrom', bus: 'sata', sizeBytes: null },
    ]);
    const off = inventoryOf(v, undefined, new Map());
    assert.equal(off.nics[0]?.mac, '52:54:00:aa:bb:cc', 'the declared MAC while off');
    assert.equal(off.nics[0]?.linkUp, false);
  });

  test('UUID and serial from firmware, lower-cased; else the VM uid', () => {
    const id = identityOf(vm(), undefined);
    assert.equal(id.uuid, 'a1b2c3d4-0000-4000-8000-000000000001');
    assert.equal(id.serial, 'SER-1');
    assert.equal(id.id, 'ns/vm1');
    const bare = vm();
    delete bare.spec!.template!.spec!.domain!.firmware;
    assert.equal(identityOf(bare, undefined).uuid, '0f0e0d0c-0b0a-4908-8706-050403020100');
  });

  test('quantities', () => {
    assert.equal(parseQuantity('512Mi'), 512 * 2 ** 20);
    assert.equal(parseQuantity('1G'), 1e9);
    assert.equal(parseQuantity('1e3'), 1000);
    assert.equal(parseQuantity('lots'), null);
    assert.equal(parseQuantity('100m'), 0.1);
    assert.equal(parseQuantity('-2Ki'), -2048);
    assert.equal(parseQuantity('1.5Gi'), 1.5 * 2 ** 30);
    assert.equal(parseQuantity('1Z'), null);
    assert.equal(parseBytes('1.5'), 2);
    assert.equal(parseBytes('-1'), null);
  });
});
