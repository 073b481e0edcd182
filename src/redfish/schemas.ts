/**
 * The DMTF schema versions this service implements (all from the DSP8010 2025.4 bundle). Every
 * `@odata.type`, `Link: rel=describedby` header and `$metadata` reference is derived from this one
 * table, so they always agree.
 */
export const SCHEMA_VERSIONS = {
  ServiceRoot: 'v1_20_0',
  ComputerSystem: 'v1_27_0',
  Bios: 'v1_2_3',
  SecureBoot: 'v1_1_2',
  EthernetInterface: 'v1_12_4',
  Processor: 'v1_22_0',
  Memory: 'v1_23_0',
  SimpleStorage: 'v1_3_2',
  Storage: 'v1_21_0',
  Drive: 'v1_22_0',
  StorageController: 'v1_11_0',
  ActionInfo: 'v1_5_0',
  Manager: 'v1_24_0',
  Chassis: 'v1_28_0',
  VirtualMedia: 'v1_6_5',
  SessionService: 'v1_2_0',
  Session: 'v1_8_0',
  AccountService: 'v1_18_1',
  ManagerAccount: 'v1_14_1',
  Role: 'v1_3_3',
  TaskService: 'v1_3_0',
  Task: 'v1_7_4',
  MessageRegistryFile: 'v1_1_5',
  // the event service
  EventService: 'v1_12_0',
  EventDestination: 'v1_16_0',
  Event: 'v1_13_0',
} as const;

export type SchemaName = keyof typeof SCHEMA_VERSIONS;

/** Collections served, each named `<Member>Collection` in the DMTF bundle. */
export const COLLECTIONS = [
  'ComputerSystemCollection',
  'EthernetInterfaceCollection',
  'ProcessorCollection',
  'MemoryCollection',
  'SimpleStorageCollection',
  'StorageCollection',
  'DriveCollection',
  'StorageControllerCollection',
  'VolumeCollection',
  'ManagerCollection',
  'ChassisCollection',
  'VirtualMediaCollection',
  'SessionCollection',
  'ManagerAccountCollection',
  'RoleCollection',
  'TaskCollection',
  'MessageRegistryFileCollection',
  'EventDestinationCollection',
] as const;

export type CollectionName = (typeof COLLECTIONS)[number];

/** `#ComputerSystem.v1_27_0.ComputerSystem` */
export function odataType(schema: SchemaName): string {
  return `#${schema}.${SCHEMA_VERSIONS[schema]}.${schema}`;
}

export function collectionType(name: CollectionName): string {
  return `#${name}.${name}`;
}

/** The JSON schema a payload of this `@odata.type` is described by (for the `Link` header). */
export function schemaUriForType(type: string): string | null {
  const m = /^#([A-Za-z]+)\.(v\d+_\d+_\d+\.)?[A-Za-z]+$/.exec(type);
  if (!m) return null;
  return `http://redfish.dmtf.org/schemas/v1/${m[1]}${m[2] ? `.${m[2].slice(0, -1)}` : ''}.json`;
}
