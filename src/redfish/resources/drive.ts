import type { DiskInfo, Machine } from '../../machine/index.ts';
import { fail } from '../messages.ts';
import { collection, type Json, type ResourceDef, systemOf, systemUri } from '../resource.ts';
import { collectionType, odataType } from '../schemas.ts';
import { safeId } from '../topology.ts';

/**
 * DriveCollection and Drive (`Storage/1/Drives/{DriveId}`): one per VM disk (CD-ROM drives are the
 * virtual media, not drives). `Protocol` follows the disk bus (virtio is a PCIe device; unknown
 * buses are `OEM`); `MediaType` is `HDD`, which is what a Linux guest reports for a virtio disk
 * (rotational), so Ironic's root-device hints agree with the guest. A declared disk is there
 * whether the VM runs or not, so it is `Enabled` and has a `CapacityBytes` (Ironic's inspection
 * compares every drive's size; the backend gives each disk one, see `src/kubevirt/inventory.ts`).
 */
const PROTOCOL: Record<string, string> = { virtio: 'PCIe', sata: 'SATA', scsi: 'SAS', usb: 'USB' };

export function storageDisks(machine: Machine): DiskInfo[] {
  return machine.getInventory().disks.filter((d) => d.kind !== 'cdrom');
}

function findDisk(ctx: Parameters<typeof systemOf>[0]): { uri: string; disk: DiskInfo; id: string } {
  const s = systemOf(ctx);
  if (ctx.params.StorageId !== '1')
    throw fail(404, 'ResourceNotFound', ['Storage', ctx.params.StorageId ?? '']);
  const id = ctx.params.DriveId ?? '';
  const disk = storageDisks(s.machine).find((d) => safeId(d.id) === id);
  if (!disk) throw fail(404, 'ResourceNotFound', ['Drive', id]);
  return { uri: `${systemUri(s)}/Storage/1/Drives/${id}`, disk, id };
}

export const drives: ResourceDef = {
  uri: '/redfish/v1/Systems/{ComputerSystemId}/Storage/{StorageId}/Drives',
  get: (ctx) => {
    const s = systemOf(ctx);
    if (ctx.params.StorageId !== '1')
      throw fail(404, 'ResourceNotFound', ['Storage', ctx.params.StorageId ?? '']);
    const uri = `${systemUri(s)}/Storage/1/Drives`;
    return collection(
      collectionType('DriveCollection'),
      uri,
      'Drive Collection',
      storageDisks(s.machine).map((d) => `${uri}/${safeId(d.id)}`),
    );
  },
};

export const drive: ResourceDef = {
  uri: '/redfish/v1/Systems/{ComputerSystemId}/Storage/{StorageId}/Drives/{DriveId}',
  get: (ctx) => {
    const { uri, disk, id } = findDisk(ctx);
    const body: Json = {
      '@odata.id': uri,
      '@odata.type': odataType('Drive'),
      Id: id,
      Name: disk.name,
      Model: disk.kind === 'lun' ? 'Virtual LUN' : 'Virtual disk',
      MediaType: 'HDD',
      Protocol: (disk.bus ? PROTOCOL[disk.bus] : undefined) ?? 'OEM',
      Status: { State: 'Enabled', Health: 'OK' },
    };
    if (disk.sizeBytes !== null) body.CapacityBytes = disk.sizeBytes;
    return body;
  },
};
