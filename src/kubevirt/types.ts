/**
 * The parts of KubeVirt and CDI objects this backend reads, as loose structural types. Objects come
 * from the API server as JSON; every field is optional because a real cluster may omit any of them.
 */

import { KINDS } from '../kube/paths.ts';
import type { Condition, KubeObject, ObjectMeta, ResourceKind } from '../kube/types.ts';

/** The object model is src/kube's (one for the product); these names stay importable from here. */
export type {
  Condition,
  KubeList,
  KubeObject,
  ObjectMeta,
  OwnerReference,
  ResourceKind,
} from '../kube/types.ts';

export interface Disk {
  name: string;
  bootOrder?: number;
  disk?: { bus?: string };
  cdrom?: { bus?: string; readonly?: boolean; tray?: string };
  lun?: { bus?: string };
  serial?: string;
  [key: string]: unknown;
}

export interface Interface {
  name: string;
  bootOrder?: number;
  macAddress?: string;
  model?: string;
  [key: string]: unknown;
}

export interface Bootloader {
  bios?: { useSerial?: boolean; [key: string]: unknown };
  efi?: { secureBoot?: boolean; persistent?: boolean; [key: string]: unknown };
}

export interface Firmware {
  uuid?: string;
  serial?: string;
  bootloader?: Bootloader;
  [key: string]: unknown;
}

export interface DomainSpec {
  cpu?: { sockets?: number; cores?: number; threads?: number; model?: string };
  memory?: { guest?: string };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  firmware?: Firmware;
  features?: { smm?: { enabled?: boolean }; acpi?: { enabled?: boolean }; [key: string]: unknown };
  devices?: {
    disks?: Disk[];
    interfaces?: Interface[];
    autoattachSerialConsole?: boolean;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface Volume {
  name: string;
  dataVolume?: { name: string; hotpluggable?: boolean };
  persistentVolumeClaim?: { claimName: string; hotpluggable?: boolean };
  containerDisk?: { image?: string };
  emptyDisk?: { capacity?: string };
  [key: string]: unknown;
}

export interface VmiSpec {
  architecture?: string;
  domain?: DomainSpec;
  volumes?: Volume[];
  terminationGracePeriodSeconds?: number;
  [key: string]: unknown;
}

export type RunStrategy = 'Always' | 'RerunOnFailure' | 'Manual' | 'Halted' | 'Once' | 'WaitAsReceiver';

export interface StateChangeRequest {
  action: 'Start' | 'Stop';
  uid?: string;
  data?: Record<string, string>;
}

export interface DataVolumeTemplate {
  metadata?: ObjectMeta;
  spec?: DataVolumeSpec;
}

/** `spec.instancetype` / `spec.preference`: an empty kind means the cluster-wide object. */
export interface InstancetypeMatcher {
  name?: string;
  kind?: string;
  revisionName?: string;
}

/** `status.instancetypeRef` / `status.preferenceRef`: the ControllerRevision KubeVirt stored. */
export interface InstancetypeStatusRef {
  name?: string;
  kind?: string;
  controllerRevisionRef?: { name?: string };
}

export interface VirtualMachine extends KubeObject {
  spec?: {
    runStrategy?: RunStrategy;
    running?: boolean;
    /** Applied by KubeVirt to the VMI when it creates it; the template is never expanded. */
    instancetype?: InstancetypeMatcher;
    preference?: InstancetypeMatcher;
    template?: { metadata?: ObjectMeta; spec?: VmiSpec };
    dataVolumeTemplates?: DataVolumeTemplate[];
  };
  status?: {
    instancetypeRef?: InstancetypeStatusRef;
    preferenceRef?: InstancetypeStatusRef;
    printableStatus?: string;
    created?: boolean;
    ready?: boolean;
    runStrategy?: RunStrategy;
    conditions?: Condition[];
    stateChangeRequests?: StateChangeRequest[];
  };
}

export interface VmiInterfaceStatus {
  name?: string;
  mac?: string;
  ipAddress?: string;
  ipAddresses?: string[];
  linkState?: string;
}

export interface VolumeStatus {
  name: string;
  phase?: string;
  reason?: string;
  message?: string;
  hotplugVolume?: { attachPodName?: string };
}

export type VmiPhase =
  | ''
  | 'Pending'
  | 'Scheduling'
  | 'Scheduled'
  | 'Running'
  | 'Succeeded'
  | 'Failed'
  | 'Unknown';

export interface VirtualMachineInstance extends KubeObject {
  spec?: VmiSpec;
  status?: {
    phase?: VmiPhase;
    conditions?: Condition[];
    interfaces?: VmiInterfaceStatus[];
    volumeStatus?: VolumeStatus[];
    reason?: string;
  };
}

export interface DataVolumeSpec {
  source?: {
    http?: { url: string; secretRef?: string; certConfigMap?: string; insecureSkipVerify?: boolean };
    [key: string]: unknown;
  };
  storage?: {
    resources?: { requests?: { storage?: string } };
    storageClassName?: string;
    accessModes?: string[];
    volumeMode?: string;
    [key: string]: unknown;
  };
  pvc?: { resources?: { requests?: { storage?: string } }; [key: string]: unknown };
  contentType?: string;
}

export interface DataVolume extends KubeObject {
  spec?: DataVolumeSpec;
  status?: {
    phase?: string;
    progress?: string;
    /** How often CDI restarted the importer after an error (it retries all but fatal errors). */
    restartCount?: number;
    conditions?: Condition[];
  };
}

export const VM_KIND: ResourceKind = {
  group: 'kubevirt.io',
  version: 'v1',
  plural: 'virtualmachines',
  kind: 'VirtualMachine',
};
export const VMI_KIND: ResourceKind = {
  group: 'kubevirt.io',
  version: 'v1',
  plural: 'virtualmachineinstances',
  kind: 'VirtualMachineInstance',
};
export const DV_KIND: ResourceKind = {
  group: 'cdi.kubevirt.io',
  version: 'v1beta1',
  plural: 'datavolumes',
  kind: 'DataVolume',
};
export const SECRET_KIND: ResourceKind = KINDS.Secret;

/** Annotations and labels this backend writes. */
export const ANNOTATION_BOOT_OVERRIDE = 'bmc.kubevirt.io/boot-override';
export const ANNOTATION_SAVED_BOOT_ORDER = 'bmc.kubevirt.io/saved-boot-order';
/** Optional, set by the user: which disk `Hdd` means, and which interface `Pxe` means. */
export const ANNOTATION_BOOT_DISK = 'bmc.kubevirt.io/boot-disk';
export const ANNOTATION_BOOT_INTERFACE = 'bmc.kubevirt.io/boot-interface';
export const LABEL_VM = 'bmc.kubevirt.io/vm';
export const LABEL_SLOT = 'bmc.kubevirt.io/media-slot';
