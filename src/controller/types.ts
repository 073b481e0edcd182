/**
 * The VirtualMachineBMC API as the controller sees it, and the loose Kubernetes object shape the
 * controller builds and compares. Plain data, no I/O.
 */

import type { Condition as KubeCondition, Resource, ResourceKind } from '../kube/types.ts';

export type { ConditionStatus, ObjectMeta, OwnerReference } from '../kube/types.ts';

export const GROUP = 'bmc.kubevirt.io';
export const VERSION = 'v1beta1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'VirtualMachineBMC';
export const PLURAL = 'virtualmachinebmcs';
export const BMC_KIND: ResourceKind = { group: GROUP, version: VERSION, plural: PLURAL, kind: KIND };

/** Labels on every object the controller owns. */
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'kubevirtbmc-controller';
export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
/** The BMC a per-BMC object belongs to. */
export const LABEL_BMC = 'bmc.kubevirt.io/bmc';
/** `per-vm` or `shared`. */
export const LABEL_PLACEMENT = 'bmc.kubevirt.io/placement';
/**
 * The label selecting the ConfigMaps the controller owns (each BMC's Redfish event subscriptions):
 * its own managed-by value, or `kubevirtbmc`, which agents put on these ConfigMaps when they still
 * created them themselves, so the controller adopts those (relabels them and keeps their data).
 */
export const OWNED_CONFIGMAP_SELECTOR = `${LABEL_MANAGED_BY} in (${MANAGED_BY},kubevirtbmc),${LABEL_BMC}`;
/** Set on VirtualMachineBMCs (and Secrets) the controller created for a labelled VM. */
export const LABEL_AUTO_CREATED = 'bmc.kubevirt.io/auto-created';

/** Agent container ports: what the agent listens on inside its pod (the Service maps to these). */
export const AGENT_IPMI_PORT = 10623;
export const AGENT_REDFISH_PORT = 10080;
export const AGENT_REDFISH_TLS_PORT = 10443;
export const AGENT_METRICS_PORT = 8081;
/** The port IPMI clients use on a BMC's Service (mapped to the agent's IPMI port). */
export const SERVICE_IPMI_PORT = 623;
/** Shared placement: BMC slot i uses IPMI port BASE+2i (UDP) and Redfish port BASE+2i+1 (TCP). */
export const SHARED_PORT_BASE = 20000;
export const SHARED_MAX_SLOTS = 4000;
/** Shared agents declare container ports in blocks of this many slots, so adding a BMC rarely rolls the agent. */
export const SHARED_SLOT_BLOCK = 16;

export type Placement = 'per-vm' | 'shared';
export const PLACEMENTS: readonly Placement[] = ['per-vm', 'shared'];

/** Any Kubernetes object the controller builds or compares (the object model is src/kube's). */
export interface KObject extends Resource {
  // biome-ignore lint/suspicious/noExplicitAny: free-form object bodies
  spec?: any;
  // biome-ignore lint/suspicious/noExplicitAny: free-form object bodies
  status?: any;
}

export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer';

export interface BmcSpec {
  virtualMachineRef: { name: string };
  authSecretRef: { name: string };
  ipmi?: { enabled?: boolean };
  /** Upstream KubeVirtBMC's older place for the virtual-media StorageClass (virtualMedia.storage wins). */
  storageClassName?: string;
  redfish?: {
    enabled?: boolean;
    tlsSecretRef?: { name: string };
    /** Virtual-media DataVolumes: storage and TLS trust, passed to the agent (src/kubevirt/media-storage.ts). */
    virtualMedia?: {
      storage?: {
        storageClassName?: string;
        volumeMode?: 'Filesystem' | 'Block';
        accessModes?: string[];
        size?: string;
        maxSize?: string;
      };
      /** `caBundleConfigMapRef` is upstream KubeVirtBMC's spelling of `certConfigMap`. */
      tls?: { certConfigMap?: string; caBundleConfigMapRef?: { name: string }; insecureSkipVerify?: boolean };
      importRetries?: number;
    };
  };
  service?: {
    type?: ServiceType;
    ipmiNodePort?: number;
    redfishNodePort?: number;
    loadBalancerIP?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
}

/** A VirtualMachineBMC's conditions always say why. */
export interface Condition extends KubeCondition {
  reason: string;
  message: string;
}

export interface BmcStatus {
  observedGeneration?: number;
  placement?: Placement;
  agent?: string;
  service?: string;
  clusterIP?: string;
  loadBalancerIP?: string;
  ports?: { ipmi?: number; redfish?: number };
  endpoints?: { ipmi?: string; redfish?: string };
  conditions?: Condition[];
  /**
   * Upstream KubeVirtBMC's record of a boot override its agent made. The controller takes it over
   * (src/controller/upstream.ts) and removes it; kubevirtbmc itself never writes it.
   */
  bootOverride?: UpstreamBootOverride;
}

/** `status.bootOverride` as upstream KubeVirtBMC writes it. */
export interface UpstreamBootOverride {
  mode: 'Oneshot' | 'Persistent';
  /** The VMI current when a one-shot override was set; a VMI with another uid has consumed it. */
  vmiUID?: string;
  /** The boot orders before the one-shot, keyed `disk:<name>`, `cdrom:<name>` or `interface:<name>`; 0 = none. */
  bootOrders?: Record<string, number>;
  originalFirmware?: 'Legacy' | 'UEFI';
}

export interface VirtualMachineBMC extends KObject {
  spec: BmcSpec;
  status?: BmcStatus;
}

/**
 * `ServiceReady` is upstream KubeVirtBMC's name for its ready condition (`kubectl wait
 * --for=condition=ServiceReady` keeps working); it always says what `Ready` says.
 */
export const CONDITION_TYPES = [
  'Ready',
  'VirtualMachineAvailable',
  'SecretAvailable',
  'AgentAvailable',
  'ServiceReady',
] as const;

/**
 * Defaults the CRD schema applies, applied again here for objects that bypassed it. The Service type
 * has no schema default: omitted, it is the controller's --service-type (`defaultServiceType`).
 */
export function effectiveSpec(
  spec: BmcSpec,
  defaultServiceType: ServiceType = 'ClusterIP',
): {
  vm: string;
  secret: string;
  ipmi: boolean;
  redfish: boolean;
  tlsSecret: string | null;
  serviceType: ServiceType;
  ipmiNodePort: number | null;
  redfishNodePort: number | null;
  loadBalancerIP: string | null;
  serviceLabels: Record<string, string>;
  serviceAnnotations: Record<string, string>;
} {
  return {
    vm: spec.virtualMachineRef?.name ?? '',
    secret: spec.authSecretRef?.name ?? '',
    ipmi: spec.ipmi?.enabled !== false,
    redfish: spec.redfish?.enabled !== false,
    tlsSecret: spec.redfish?.tlsSecretRef?.name ?? null,
    serviceType: spec.service?.type ?? defaultServiceType,
    ipmiNodePort: spec.service?.ipmiNodePort ?? null,
    redfishNodePort: spec.service?.redfishNodePort ?? null,
    loadBalancerIP: spec.service?.loadBalancerIP ?? null,
    serviceLabels: spec.service?.labels ?? {},
    serviceAnnotations: spec.service?.annotations ?? {},
  };
}
