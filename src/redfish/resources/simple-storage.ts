import type { DiskInfo } from '../../machine/index.ts';
import { fail } from '../messages.ts';
import { collection, type Json, type ResourceDef, systemOf, systemUri } from '../resource.ts';
import { collectionType, odataType } from '../schemas.ts';
import { storageDisks } from './drive.ts';

/**
 * SimpleStorageCollection and SimpleStorage: the VM's disks (not its CD-ROMs, which are the virtual
 * media) as the `Devices` of one virtual controller, `1` (Ironic's inspection sums `Devices[*].CapacityBytes` for local_gb).
 */
export function diskDevice(d: DiskInfo): Json {
  const dev: Json = {
    Name: d.name,
    Model: d.kind === 'cdrom' ? 'Virtual CD-ROM' : 'Virtual disk',
    Status: { State: 'Enabled', Health: 'OK' },
  };
  if (d.sizeBytes !== null) dev.CapacityBytes = d.sizeBytes;
  return dev;
}

export const simpleStorageCollection: ResourceDef = {
  uri: '/redfish/v1/Systems/{ComputerSystemId}/SimpleStorage',
  get: (ctx) => {
    const uri = `${systemUri(systemOf(ctx))}/SimpleStorage`;
    return collection(collectionType('SimpleStorageCollection'), uri, 'Simple Storage Collection', [
      `${uri}/1`,
    ]);
  },
};

export const simpleStorage: ResourceDef = {
  uri: '/redfish/v1/Systems/{ComputerSystemId}/SimpleStorage/{SimpleStorageId}',
  get: (ctx) => {
    const s = systemOf(ctx);
    const id = ctx.params.SimpleStorageId ?? '';
    if (id !== '1') throw fail(404, 'ResourceNotFound', ['SimpleStorage', id]);
    return {
      '@odata.id': `${systemUri(s)}/SimpleStorage/${id}`,
      '@odata.type': odataType('SimpleStorage'),
      Id: id,
      Name: 'Virtual disk controller',
      Devices: storageDisks(s.machine).map(diskDevice),
      Status: { State: 'Enabled', Health: 'OK' },
    };
  },
};
