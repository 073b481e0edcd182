import type { ProcessorInfo } from '../../machine/index.ts';
import { fail } from '../messages.ts';
import { collection, type ResourceDef, systemOf, systemUri } from '../resource.ts';
import { collectionType, odataType } from '../schemas.ts';

/** ProcessorCollection and Processor: one member per virtual socket (`CPU0`, `CPU1`…). */
const ARCH: Record<ProcessorInfo['architecture'], { arch: string; isa: string }> = {
  'x86-64': { arch: 'x86', isa: 'x86-64' },
  ARM: { arch: 'ARM', isa: 'ARM-A64' },
  other: { arch: 'OEM', isa: 'OEM' },
};

export const processors: ResourceDef = {
  uri: '/redfish/v1/Systems/{ComputerSystemId}/Processors',
  get: (ctx) => {
    const s = systemOf(ctx);
    const uri = `${systemUri(s)}/Processors`;
    const n = s.machine.getInventory().processors.sockets;
    return collection(
      collectionType('ProcessorCollection'),
      uri,
      'Processor Collection',
      Array.from({ length: n }, (_, i) => `${uri}/CPU${i}`),
    );
  },
};

export const processor: ResourceDef = {
  uri: '/redfish/v1/Systems/{ComputerSystemId}/Processors/{ProcessorId}',
  get: (ctx) => {
    const s = systemOf(ctx);
    const id = ctx.params.ProcessorId ?? '';
    const p = s.machine.getInventory().processors;
    const m = /^CPU(\d+)$/.exec(id);
    if (!m || Number(m[1]) >= p.sockets) throw fail(404, 'ResourceNotFound', ['Processor', id]);
    const { arch, isa } = ARCH[p.architecture];
    return {
      '@odata.id': `${systemUri(s)}/Processors/${id}`,
      '@odata.type': odataType('Processor'),
      Id: id,
      Name: `Virtual CPU socket ${m[1]}`,
      Socket: `CPU ${m[1]}`,
      ProcessorType: 'CPU',
      ProcessorArchitecture: arch,
      InstructionSet: isa,
      Model: p.model,
      TotalCores: p.coresPerSocket,
      TotalEnabledCores: p.coresPerSocket,
      TotalThreads: p.coresPerSocket * p.threadsPerCore,
      Status: { State: 'Enabled', Health: 'OK' },
    };
  },
};
