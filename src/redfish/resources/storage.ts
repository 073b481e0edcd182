import { fail } from '../messages.ts';
import { collection, type ResourceDef, ref, systemOf, systemUri } from '../resource.ts';
import { collectionType, odataType } from '../schemas.ts';
import { safeId } from '../topology.ts';
import { storageDisks } from './drive.ts';

/**
 * StorageCollection and Storage: one storage subsystem, `1`, holding every disk as a Drive, with
 * its one controller and its (empty: a VM has no RAID) volume collection.
 */
export const storageCollection: ResourceDef = {
  uri: '/redfish/v1/Systems/{ComputerSystemId}/Storage',
  get: (ctx) => {
    const uri = `${systemUri(systemOf(ctx))}/Storage`;
    return collection(collectionType('StorageCollection'), uri, 'Storage Collection', [`${uri}/1`]);
  },
};

export const storage: ResourceDef = {
  uri: '/redfish/v1/Systems/{ComputerSystemId}/Storage/{StorageId}',
  get: (ctx) => {
    const s = systemOf(ctx);
    const id = ctx.params.StorageId ?? '';
    if (id !== '1') throw fail(404, 'ResourceNotFound', ['Storage', id]);
    const uri = `${systemUri(s)}/Storage/${id}`;
    const drives = storageDisks(s.machine).map((d) => ref(`${uri}/Drives/${safeId(d.id)}`));
    return {
      '@odata.id': uri,
      '@odata.type': odataType('Storage'),
      Id: id,
      Name: 'Virtual storage',
      Drives: drives,
      'Drives@odata.count': drives.length,
      Controllers: ref(`${uri}/Controllers`),
      Volumes: ref(`${uri}/Volumes`),
      Status: { State: 'Enabled', Health: 'OK' },
    };
  },
};
