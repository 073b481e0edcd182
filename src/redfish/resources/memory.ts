import { fail } from '../messages.ts';
import { collection, type ResourceDef, systemOf, systemUri } from '../resource.ts';
import { collectionType, odataType } from '../schemas.ts';

/** MemoryCollection and Memory: the VM's memory as one virtual module, `DIMM0`. */
export const memoryCollection: ResourceDef = {
  uri: '/redfish/v1/Systems/{ComputerSystemId}/Memory',
  get: (ctx) => {
    const uri = `${systemUri(systemOf(ctx))}/Memory`;
    return collection(collectionType('MemoryCollection'), uri, 'Memory Collection', [`${uri}/DIMM0`]);
  },
};

export const memory: ResourceDef = {
  uri: '/redfish/v1/Systems/{ComputerSystemId}/Memory/{MemoryId}',
  get: (ctx) => {
    const s = systemOf(ctx);
    const id = ctx.params.MemoryId ?? '';
    if (id !== 'DIMM0') throw fail(404, 'ResourceNotFound', ['Memory', id]);
    return {
      '@odata.id': `${systemUri(s)}/Memory/${id}`,
      '@odata.type': odataType('Memory'),
      Id: id,
      Name: 'Virtual memory',
      MemoryType: 'DRAM',
      CapacityMiB: Math.floor(s.machine.getInventory().memoryBytes / 1024 ** 2),
      Status: { State: 'Enabled', Health: 'OK' },
    };
  },
};
