import {
  type BootMode,
  type BootOverrideRequest,
  type BootPersistence,
  type BootTarget,
  isMachineError,
  type PowerState,
} from '../../machine/index.ts';
import { type ExtendedInfo, message, RedfishError } from '../messages.ts';
import {
  chassisUri,
  type Json,
  managerUri,
  type ResourceDef,
  ref,
  type SystemEntry,
  systemOf,
  systemUri,
} from '../resource.ts';
import { odataType } from '../schemas.ts';
import { redfishResetTypes } from './computer-system-reset.ts';

/**
 * ComputerSystem (`/redfish/v1/Systems/{ComputerSystemId}`): power state, the boot override, the
 * inventory summaries and links to everything below. PATCH changes `Boot` only.
 */

/** A paused machine still holds power; sushy understands only On/Off/PoweringOn/PoweringOff. */
export function redfishPowerState(state: PowerState): 'On' | 'Off' | 'PoweringOn' | 'PoweringOff' {
  return state === 'Paused' ? 'On' : state;
}

function systemState(state: PowerState): string {
  if (state === 'Paused') return 'Quiesced';
  if (state === 'Off') return 'StandbyOffline';
  if (state === 'PoweringOn') return 'Starting';
  return 'Enabled';
}

const PERSISTENCE: readonly BootPersistence[] = ['Disabled', 'Once', 'Continuous'];

export function renderSystem(s: SystemEntry): Json {
  const m = s.machine;
  const identity = m.getIdentity();
  const power = m.getPowerState();
  const boot = m.getBootOverride();
  const caps = m.getBootCapabilities();
  const inv = m.getInventory();
  const base = systemUri(s);
  const p = inv.processors;
  const body: Json = {
    '@odata.id': base,
    '@odata.type': odataType('ComputerSystem'),
    Id: s.id,
    Name: s.id === '1' ? identity.name : s.id,
    Description: `KubeVirt virtual machine ${identity.namespace}/${identity.name}`,
    SystemType: 'Virtual',
    Manufacturer: identity.manufacturer,
    Model: identity.model,
    SerialNumber: identity.serial,
    UUID: identity.uuid,
    HostName: identity.name,
    PowerState: redfishPowerState(power),
    Status: { State: systemState(power), Health: 'OK' },
    ProcessorSummary: {
      Count: p.sockets,
      CoreCount: p.sockets * p.coresPerSocket,
      LogicalProcessorCount: p.sockets * p.coresPerSocket * p.threadsPerCore,
      Model: p.model,
    },
    MemorySummary: { TotalSystemMemoryGiB: round(inv.memoryBytes / 1024 ** 3) },
    Boot: {
      BootSourceOverrideEnabled: boot.persistence,
      'BootSourceOverrideEnabled@Redfish.AllowableValues': PERSISTENCE,
      BootSourceOverrideTarget: boot.target,
      'BootSourceOverrideTarget@Redfish.AllowableValues': caps.targets,
      BootSourceOverrideMode: boot.mode,
      'BootSourceOverrideMode@Redfish.AllowableValues': caps.modes,
    },
    SerialConsole: { IPMI: { ServiceEnabled: true } },
    Processors: ref(`${base}/Processors`),
    Memory: ref(`${base}/Memory`),
    EthernetInterfaces: ref(`${base}/EthernetInterfaces`),
    SimpleStorage: ref(`${base}/SimpleStorage`),
    Storage: ref(`${base}/Storage`),
    Bios: ref(`${base}/Bios`),
    SecureBoot: ref(`${base}/SecureBoot`),
    Links: { ManagedBy: [ref(managerUri(s))], Chassis: [ref(chassisUri(s))] },
    Actions: {
      '#ComputerSystem.Reset': {
        target: `${base}/Actions/ComputerSystem.Reset`,
        'ResetType@Redfish.AllowableValues': redfishResetTypes(m),
        '@Redfish.ActionInfo': `${base}/ResetActionInfo`,
      },
    },
  };
  if (m.getMediaSlots().length > 0) body.VirtualMedia = ref(`${base}/VirtualMedia`);
  return body;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** A value a client sends back unchanged from what it read, or an empty placeholder (bmclib). */
function isEmptyValue(v: unknown): boolean {
  return (
    v === null ||
    v === '' ||
    v === 0 ||
    v === false ||
    (Array.isArray(v) && v.length === 0) ||
    (typeof v === 'object' && v !== null && Object.keys(v).length === 0)
  );
}

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Boot members of the schema we do not serve: accepted only when empty (see isEmptyValue). */
const BOOT_SCHEMA_MEMBERS = new Set([
  'AliasBootOrder',
  'AutomaticRetryAttempts',
  'AutomaticRetryConfig',
  'BootNext',
  'BootOptions',
  'BootOrder',
  'BootOrderPropertySelection',
  'Certificates',
  'HttpBootUri',
  'RemainingAutomaticRetryAttempts',
  'StopBootOnFault',
  'TrustedModuleRequiredToBoot',
  'UefiTargetBootSourceOverride',
]);

/**
 * Validates a PATCH body against the current representation. Returns the boot request, or throws
 * 400 with every problem found (and nothing changed). Annotations and read-only members sent back
 * unchanged are not errors: bmclib PATCHes the whole Boot object it read.
 */
export function parseSystemPatch(current: Json, body: Json): BootOverrideRequest {
  const errors: ExtendedInfo[] = [];
  let request: { target?: BootTarget; persistence?: BootPersistence; mode?: BootMode } = {};
  const currentBoot = current.Boot as Json;
  for (const [key, value] of Object.entries(body)) {
    if (key.includes('@')) continue;
    if (key === 'Boot') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        errors.push(message('PropertyValueTypeError', [JSON.stringify(value), 'Boot'], ['#/Boot']));
        continue;
      }
      request = parseBoot(currentBoot, value as Json, errors);
      continue;
    }
    if (key in current) {
      if (!sameJson(current[key], value)) errors.push(message('PropertyNotWritable', [key], [`#/${key}`]));
      continue;
    }
    errors.push(message('PropertyUnknown', [key], [`#/${key}`]));
  }
  if (errors.length > 0) throw new RedfishError(400, errors);
  return request;
}

function parseBoot(current: Json, boot: Json, errors: ExtendedInfo[]): BootOverrideRequest {
  const out: { target?: BootTarget; persistence?: BootPersistence; mode?: BootMode } = {};
  for (const [key, value] of Object.entries(boot)) {
    const where = [`#/Boot/${key}`];
    if (key.includes('@')) continue;
    switch (key) {
      case 'BootSourceOverrideTarget': {
        const allowed = current['BootSourceOverrideTarget@Redfish.AllowableValues'] as string[];
        if (typeof value !== 'string') {
          errors.push(message('PropertyValueTypeError', [JSON.stringify(value), key], where));
        } else if (!allowed.includes(value)) {
          // Both a BootSource this machine cannot boot from and a word outside the enum.
          errors.push(message('PropertyValueNotInList', [value, key], where));
        } else out.target = value as BootTarget;
        break;
      }
      case 'BootSourceOverrideEnabled':
        if (typeof value !== 'string') {
          errors.push(message('PropertyValueTypeError', [JSON.stringify(value), key], where));
        } else if (!PERSISTENCE.includes(value as BootPersistence)) {
          errors.push(message('PropertyValueNotInList', [value, key], where));
        } else out.persistence = value as BootPersistence;
        break;
      case 'BootSourceOverrideMode': {
        const modes = current['BootSourceOverrideMode@Redfish.AllowableValues'] as string[];
        if (typeof value !== 'string') {
          errors.push(message('PropertyValueTypeError', [JSON.stringify(value), key], where));
        } else if (!modes.includes(value)) {
          errors.push(message('PropertyValueNotInList', [value, key], where));
        } else out.mode = value as BootMode;
        break;
      }
      default:
        if (key in current) {
          if (!sameJson(current[key], value))
            errors.push(message('PropertyNotWritable', [`Boot/${key}`], where));
        } else if (BOOT_SCHEMA_MEMBERS.has(key)) {
          if (!isEmptyValue(value)) errors.push(message('PropertyNotWritable', [`Boot/${key}`], where));
        } else {
          errors.push(message('PropertyUnknown', [`Boot/${key}`], where));
        }
    }
  }
  return out;
}

export const computerSystem: ResourceDef = {
  uri: '/redfish/v1/Systems/{ComputerSystemId}',
  get: (ctx) => renderSystem(systemOf(ctx)),
  patch: {
    privilege: 'ConfigureComponents',
    run: async (ctx, body) => {
      const s = systemOf(ctx);
      const request = parseSystemPatch(renderSystem(s), body);
      if (Object.keys(request).length === 0) return undefined;
      try {
        await s.machine.setBootOverride(request, ctx.actor);
      } catch (err) {
        // Legacy mode while secure boot is on: the two settings conflict.
        if (isMachineError(err) && err.code === 'InvalidState' && request.mode) {
          const info = message(
            'PropertyValueConflict',
            ['BootSourceOverrideMode', 'SecureBootEnable'],
            ['#/Boot/BootSourceOverrideMode'],
          );
          throw new RedfishError(409, { ...info, Resolution: err.message });
        }
        throw err;
      }
      return undefined;
    },
  },
};
