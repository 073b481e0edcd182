import type { DiskInfo } from '../../machine/index.ts';
import { fail } from '../messages.ts';
import { collection, type Json, type ResourceDef, systemOf, systemUri } from '../resource.ts';
import { collectionType, odataType } from '../schemas.ts';
import { safeId } from '../topology.ts';

/**
 * DriveCollection and Drive (`Storage/1/Drives/{DriveId}`): one per VM disk. `Protocol` follows the
 * disk bus (virtio is a PCIe device); `MediaType` (HDD/SSD) is not known for a virtual disk and is
 * left out.
 */
const PROTOCOL: Record<string, string> = { virtio: 'PCIe', sata: 'SATA', scsi: 'SAS', usb: 'USB' };

function findDisk(ctx: Parameters<typeof systemOf>[0]): { uri: string; disk: DiskInfo; id: string } {
  const s = systemOf(ctx);
  if (ctx.params.StorageId !== '1')
    throw fail(404, 'ResourceNotFound', ['Storage', ctx.params.StorageId ?? '']);
  const id = ctx.params.DriveId ?? '';
  const disk = s.machine.getInventory().disks.find((d) => safeId(d.id) === id);
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
      s.machine.getInventory().disks.map((d) => `${uri}/${safeId(d.id)}`),
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
      Model: disk.kind === 'cdrom' ? 'Virtual CD-ROM' : 'Virtual disk',
      Status: {
        State: disk.sizeBytes === null && disk.kind !== 'cdrom' ? 'Absent' : 'Enabled',
        Health: 'OK',
      },
    };
    if (disk.sizeBytes !== null) body.CapacityBytes = disk.sizeBytes;
    const protocol = disk.bus ? PROTOCOL[disk.bus] : undefined;
    if (protocol) body.Protocol = protocol;
    return body;
  },
};
