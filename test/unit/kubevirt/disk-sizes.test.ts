/**
 * Every disk of a VM has a size, which Ironic's Redfish inspection needs for local_gb: a
 * containerDisk (no size in its spec) takes the running VMI's volume status, else the VM's
 * `bmc.kubevirt.io/disk-size` annotation, else 10 GiB; DataVolume and emptyDisk sizes come from
 * their specs. CD-ROMs (the virtual media) have none.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ANNOTATION_DISK_SIZE,
  DEFAULT_DISK_SIZE_BYTES,
  inventoryOf,
} from '../../../src/kubevirt/inventory.ts';
import type { VirtualMachine, VirtualMachineInstance } from '../../../src/kubevirt/types.ts';

const GiB = 2 ** 30;

function vm(annotations?: Record<string, string>): VirtualMachine {
  return {
    metadata: { name: 'vm1', namespace: 'ns', uid: 'u1', ...(annotations ? { annotations } : {}) },
    spec: {
      dataVolumeTemplates: [
        {
          metadata: { name: 'data-dv' },
          spec: { storage: { resources: { requests: { storage: '30Gi' } } } },
        },
      ],
      template: {
        spec: {
          domain: {
            devices: {
              disks: [
                { name: 'rootdisk', disk: { bus: 'virtio' } },
                { name: 'data', disk: { bus: 'virtio' } },
                { name: 'scratch', disk: { bus: 'virtio' } },
                { name: 'claim', disk: { bus: 'scsi' } },
                { name: 'cdrom', cdrom: { bus: 'sata' } },
              ],
            },
          },
          volumes: [
            { name: 'rootdisk', containerDisk: { image: 'quay.io/containerdisks/fedora:41' } },
            { name: 'data', dataVolume: { name: 'data-dv' } },
            { name: 'scratch', emptyDisk: { capacity: '5Gi' } },
            { name: 'claim', persistentVolumeClaim: { claimName: 'pvc1' } },
          ],
        },
      },
    },
  } as unknown as VirtualMachine;
}

const sizes = (v: VirtualMachine, vmi?: VirtualMachineInstance) =>
  Object.fromEntries(inventoryOf(v, vmi, new Map()).disks.map((d) => [d.name, d.sizeBytes]));

describe('disk sizes', () => {
  test('stopped, no annotation: the spec sizes, 10 GiB for the containerDisk and the PVC', () => {
    assert.equal(DEFAULT_DISK_SIZE_BYTES, 10 * GiB);
    assert.deepEqual(sizes(vm()), {
      rootdisk: 10 * GiB,
      data: 30 * GiB,
      scratch: 5 * GiB,
      claim: 10 * GiB,
      cdrom: null,
    });
  });

  test('the annotation sets the size of the disks whose volume does not say it', () => {
    assert.deepEqual(sizes(vm({ [ANNOTATION_DISK_SIZE]: '20Gi' })), {
      rootdisk: 20 * GiB,
      data: 30 * GiB,
      scratch: 5 * GiB,
      claim: 20 * GiB,
      cdrom: null,
    });
  });

  test('an invalid annotation is ignored: the default', () => {
    for (const bad of ['lots', '-5Gi', '0', ''])
      assert.equal(sizes(vm({ [ANNOTATION_DISK_SIZE]: bad })).rootdisk, 10 * GiB, bad);
  });

  test('running: the VMI volume status wins over the annotation', () => {
    const vmi = {
      metadata: { name: 'vm1', uid: 'i1' },
      status: {
        phase: 'Running',
        volumeStatus: [
          { name: 'rootdisk', size: 12 * GiB },
          { name: 'claim', persistentVolumeClaimInfo: { capacity: { storage: '50Gi' } } },
        ],
      },
    } as unknown as VirtualMachineInstance;
    const s = sizes(vm({ [ANNOTATION_DISK_SIZE]: '20Gi' }), vmi);
    assert.equal(s.rootdisk, 12 * GiB);
    assert.equal(s.claim, 50 * GiB);
    assert.equal(s.data, 30 * GiB);
  });
});
