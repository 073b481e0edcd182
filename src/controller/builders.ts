/**
 * Pure builders of the objects the controller owns. Each returns the desired object; the
 * reconciler compares it with the live one and writes only when they differ.
 */
import { createHash } from 'node:crypto';
import { backendRoleRules } from '../kubevirt/rbac.ts';
import { bmcObjectName, SHARED_AGENT_NAME, subscriptionConfigMapName, upstreamServiceName } from './names.ts';
import {
  AGENT_IPMI_PORT,
  AGENT_METRICS_PORT,
  AGENT_REDFISH_PORT,
  AGENT_REDFISH_TLS_PORT,
  API_VERSION,
  effectiveSpec,
  KIND,
  type KObject,
  LABEL_BMC,
  LABEL_COMPONENT,
  LABEL_MANAGED_BY,
  LABEL_NAME,
  LABEL_PLACEMENT,
  MANAGED_BY,
  type OwnerReference,
  type Placement,
  SERVICE_IPMI_PORT,
  type ServiceType,
  SHARED_PORT_BASE,
  SHARED_SLOT_BLOCK,
  type VirtualMachineBMC,
} from './types.ts';

export interface AgentSettings {
  /** Container image of the agent (the single kubevirtbmc image). */
  image: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** Extra agent arguments, e.g. a log level. */
  extraArgs?: readonly string[];
  resources?: {
    requests: Record<string, string>;
    limits: Record<string, string>;
  };
  /** priorityClassName of agent pods (--agent-priority-class); none by default. */
  priorityClassName?: string;
  /** nodeSelector of agent pods (--agent-node-selector); none by default. */
  nodeSelector?: Record<string, string>;
  /** Defaults of the BMC Services (--service-type, --service-annotation). */
  service?: ServiceDefaults;
}

/** What a BMC's Service gets when its VirtualMachineBMC does not say. */
export interface ServiceDefaults {
  /** For BMCs without spec.service.type (default ClusterIP). */
  type?: ServiceType;
  /** Put on every BMC Service; a BMC's own spec.service.annotations win on the same key. */
  annotations?: Record<string, string>;
}

/**
 * V8 settings of the agent's Node process: a 1 MiB young generation (V8's default grows it to
 * 16 MiB per semi-space under load). A BMC agent answers small requests; the larger young
 * generation bought nothing measurable in throughput and cost up to 30 MiB of resident memory
 * (docs/performance.md). Set as NODE_OPTIONS in the agent's container.
 */
export const AGENT_NODE_OPTIONS = '--max-semi-space-size=1';

export const DEFAULT_AGENT_RESOURCES = {
  requests: { cpu: '10m', memory: '64Mi' },
  limits: { memory: '256Mi' },
};

export function ownerRef(bmc: VirtualMachineBMC, controller: boolean): OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: bmc.metadata.name,
    uid: bmc.metadata.uid ?? '',
    controller,
    blockOwnerDeletion: true,
  };
}

function baseLabels(placement: Placement, bmcName?: string): Record<string, string> {
  const labels: Record<string, string> = {
    [LABEL_NAME]: 'kubevirtbmc',
    [LABEL_COMPONENT]: 'agent',
    [LABEL_MANAGED_BY]: MANAGED_BY,
    [LABEL_PLACEMENT]: placement,
  };
  if (bmcName !== undefined) labels[LABEL_BMC] = bmcName;
  return labels;
}

/** The labels selecting the agent pods serving `bmcName` (per-vm) or the namespace (shared). */
export function agentSelector(placement: Placement, bmcName: string): Record<string, string> {
  return placement === 'per-vm'
    ? { [LABEL_NAME]: 'kubevirtbmc', [LABEL_COMPONENT]: 'agent', [LABEL_BMC]: bmcName }
    : { [LABEL_NAME]: 'kubevirtbmc', [LABEL_COMPONENT]: 'agent', [LABEL_PLACEMENT]: 'shared' };
}

export function sharedSlotPorts(slot: number): { ipmi: number; redfish: number } {
  return { ipmi: SHARED_PORT_BASE + 2 * slot, redfish: SHARED_PORT_BASE + 2 * slot + 1 };
}

export function slotOfPorts(ports: { ipmi?: number; redfish?: number } | undefined): number | null {
  const slotOf = (port: number | undefined, offset: number): number | null => {
    if (typeof port !== 'number' || port < SHARED_PORT_BASE + offset) return null;
    const d = port - SHARED_PORT_BASE - offset;
    return d % 2 === 0 ? d / 2 : null;
  };
  const a = slotOf(ports?.ipmi, 0);
  const b = slotOf(ports?.redfish, 1);
  if (a !== null && b !== null) return a === b ? a : null;
  return a ?? b;
}

/** The container ports of one BMC in its agent. */
export function bmcPorts(bmc: VirtualMachineBMC, placement: Placement, slot: number | null) {
  const spec = effectiveSpec(bmc.spec);
  if (placement === 'shared') {
    const p = sharedSlotPorts(slot ?? 0);
    return { ipmi: spec.ipmi ? p.ipmi : undefined, redfish: spec.redfish ? p.redfish : undefined };
  }
  return {
    ipmi: spec.ipmi ? AGENT_IPMI_PORT : undefined,
    redfish: spec.redfish ? (spec.tlsSecret ? AGENT_REDFISH_TLS_PORT : AGENT_REDFISH_PORT) : undefined,
  };
}

export function serviceAccount(
  namespace: string,
  name: string,
  labels: Record<string, string>,
  owners: OwnerReference[],
): KObject {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name, namespace, labels, ownerReferences: owners },
    automountServiceAccountToken: true,
  };
}

/**
 * The agent's permissions: what the KubeVirt backend needs for its VMs (`backendRoleRules`, every
 * VM and VMI verb limited to the named VMs; DataVolumes and image-credential Secrets cannot be, as
 * their names are generated per insert: what an agent may create, change and delete there is held
 * by the admission policies deploy/rbac/datavolume-policy.yaml and agent-secret-policy.yaml), plus
 * reading exactly the named Secrets, recording Events (the audit trail), reading its
 * VirtualMachineBMC(s) and reading and updating each BMC's Redfish event subscriptions ConfigMap.
 * The controller creates those ConfigMaps (`subscriptionConfigMap`), so the agent gets no `create`
 * on ConfigMaps at all (RBAC could not limit it by name).
 */
export function agentRules(opts: {
  vms: readonly string[];
  secrets: readonly string[];
  /** The BMCs served, whose `<name>-redfish-subscriptions` ConfigMaps the agent keeps. */
  bmcs: readonly string[];
  /** Per-vm: the one BMC it may read; shared: null (it lists every BMC of the namespace). */
  bmc: string | null;
}): unknown[] {
  const vms = [...new Set(opts.vms)].sort();
  const secrets = [...new Set(opts.secrets)].sort();
  const named = backendRoleRules(vms[0] ?? '').map((r) =>
    r.resourceNames ? { ...r, resourceNames: vms } : { ...r },
  );
  // The shared agent watches its namespace's VMs and VMIs once for all its BMCs (one watch per
  // kind instead of one per BMC): reading them namespace-wide is what that needs. Every write
  // (patches, power actions, the console) stays limited to the VMs it serves. A per-vm agent
  // reads only its VM.
  const rules: unknown[] =
    opts.bmc !== null
      ? named
      : [
          ...named.flatMap((r) => {
            if (!r.apiGroups.includes('kubevirt.io')) return [r];
            const writes = r.verbs.filter((v) => !['get', 'list', 'watch'].includes(v));
            return writes.length > 0 ? [{ ...r, verbs: writes }] : [];
          }),
          {
            apiGroups: ['kubevirt.io'],
            resources: ['virtualmachines', 'virtualmachineinstances'],
            verbs: ['get', 'list', 'watch'],
          },
        ];
  rules.push(
    { apiGroups: [''], resources: ['secrets'], resourceNames: secrets, verbs: ['get', 'list', 'watch'] },
    { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
    {
      apiGroups: [''],
      resources: ['configmaps'],
      resourceNames: [...new Set(opts.bmcs)].sort().map(subscriptionConfigMapName),
      verbs: ['get', 'update'],
    },
    opts.bmc !== null
      ? {
          apiGroups: ['bmc.kubevirt.io'],
          resources: ['virtualmachinebmcs'],
          resourceNames: [opts.bmc],
          verbs: ['get', 'list', 'watch'],
        }
      : {
          apiGroups: ['bmc.kubevirt.io'],
          resources: ['virtualmachinebmcs'],
          verbs: ['get', 'list', 'watch'],
        },
  );
  return rules;
}

export function role(
  namespace: string,
  name: string,
  labels: Record<string, string>,
  owners: OwnerReference[],
  rules: unknown[],
): KObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name, namespace, labels, ownerReferences: owners },
    rules,
  };
}

export function roleBinding(
  namespace: string,
  name: string,
  labels: Record<string, string>,
  owners: OwnerReference[],
): KObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name, namespace, labels, ownerReferences: owners },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name, namespace }],
  };
}

/**
 * The ConfigMap where the agent keeps one BMC's Redfish event subscriptions
 * (src/agent/subscription-store.ts), created empty by the controller for every BMC and deleted with
 * it. Its data belongs to the agent: drift is judged on the metadata only and an update keeps the
 * data. No placement label, so a placement migration does not rewrite it.
 */
export function subscriptionConfigMap(bmc: VirtualMachineBMC): KObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: subscriptionConfigMapName(bmc.metadata.name),
      namespace: bmc.metadata.namespace ?? 'default',
      labels: {
        [LABEL_NAME]: 'kubevirtbmc',
        [LABEL_COMPONENT]: 'agent',
        [LABEL_MANAGED_BY]: MANAGED_BY,
        [LABEL_BMC]: bmc.metadata.name,
      },
      ownerReferences: [ownerRef(bmc, true)],
    },
  };
}

interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol: 'TCP' | 'UDP';
}

/** Requests and limits as the API server stores them: an empty map is left out, not kept as `{}`. */
function containerResources(r: NonNullable<AgentSettings['resources']>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (Object.keys(r.requests).length > 0) out.requests = { ...r.requests };
  if (Object.keys(r.limits).length > 0) out.limits = { ...r.limits };
  return out;
}

function agentDeployment(opts: {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  selector: Record<string, string>;
  owners: OwnerReference[];
  replicas: number;
  args: string[];
  ports: ContainerPort[];
  settings: AgentSettings;
  podAnnotations?: Record<string, string>;
}): KObject {
  const { settings } = opts;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: opts.name,
      namespace: opts.namespace,
      labels: opts.labels,
      ownerReferences: opts.owners,
    },
    spec: {
      replicas: opts.replicas,
      selector: { matchLabels: opts.selector },
      // Recreate: the old agent pod is gone before the new one starts, so two agents never serve one
      // BMC at once (both would answer IPMI on its address and write its VM). An image or argument
      // change costs the BMC a few seconds of downtime instead.
      strategy: { type: 'Recreate' },
      template: {
        metadata: {
          labels: { ...opts.labels, ...opts.selector },
          ...(opts.podAnnotations ? { annotations: opts.podAnnotations } : {}),
        },
        spec: {
          serviceAccountName: opts.name,
          automountServiceAccountToken: true,
          enableServiceLinks: false,
          ...(settings.priorityClassName ? { priorityClassName: settings.priorityClassName } : {}),
          ...(settings.nodeSelector && Object.keys(settings.nodeSelector).length > 0
            ? { nodeSelector: { ...settings.nodeSelector } }
            : {}),
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 65532,
            runAsGroup: 65532,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: 'agent',
              image: settings.image,
              imagePullPolicy: settings.imagePullPolicy ?? 'IfNotPresent',
              args: [...opts.args, ...(settings.extraArgs ?? [])],
              env: [
                { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                { name: 'NODE_OPTIONS', value: AGENT_NODE_OPTIONS },
              ],
              ports: opts.ports,
              readinessProbe: {
                httpGet: { path: '/readyz', port: 'metrics' },
                periodSeconds: 5,
                failureThreshold: 3,
              },
              livenessProbe: {
                httpGet: { path: '/healthz', port: 'metrics' },
                periodSeconds: 10,
                failureThreshold: 3,
              },
              resources: containerResources(settings.resources ?? DEFAULT_AGENT_RESOURCES),
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
            },
          ],
        },
      },
    },
  };
}

/**
 * A per-vm agent reads its BMC's `spec.redfish.virtualMedia` when it starts: a digest of it on the
 * pod template restarts the agent when it changes. Nothing when unset (existing agents stay as they are).
 */
function virtualMediaAnnotation(bmc: VirtualMachineBMC): { podAnnotations?: Record<string, string> } {
  const vm = bmc.spec.redfish?.virtualMedia;
  if (vm === undefined) return {};
  const digest = createHash('sha256').update(JSON.stringify(vm)).digest('hex').slice(0, 16);
  return { podAnnotations: { 'bmc.kubevirt.io/virtual-media': digest } };
}

/** Deployment of a per-vm agent: one BMC, arguments say everything it serves. */
export function perVmDeployment(bmc: VirtualMachineBMC, replicas: number, settings: AgentSettings): KObject {
  const name = bmcObjectName(bmc.metadata.name);
  const ns = bmc.metadata.namespace ?? 'default';
  const spec = effectiveSpec(bmc.spec);
  const ports = bmcPorts(bmc, 'per-vm', null);
  const args = [
    'agent',
    `--vm=${ns}/${spec.vm}`,
    `--auth-secret=${spec.secret}`,
    `--bmc=${bmc.metadata.name}`,
    `--ipmi-port=${ports.ipmi ?? 0}`,
    // Clients reach the BMC on the Service's port; Serial over LAN must name that port to them.
    `--ipmi-client-port=${SERVICE_IPMI_PORT}`,
    `--redfish-port=${ports.redfish ?? 0}`,
    `--metrics-port=${AGENT_METRICS_PORT}`,
  ];
  if (spec.tlsSecret && spec.redfish) args.push(`--tls-secret=${spec.tlsSecret}`);
  const containerPorts: ContainerPort[] = [];
  if (ports.ipmi) containerPorts.push({ name: 'ipmi', containerPort: ports.ipmi, protocol: 'UDP' });
  if (ports.redfish)
    containerPorts.push({
      name: spec.tlsSecret ? 'redfish-tls' : 'redfish',
      containerPort: ports.redfish,
      protocol: 'TCP',
    });
  containerPorts.push({ name: 'metrics', containerPort: AGENT_METRICS_PORT, protocol: 'TCP' });
  return agentDeployment({
    namespace: ns,
    name,
    labels: baseLabels('per-vm', bmc.metadata.name),
    selector: agentSelector('per-vm', bmc.metadata.name),
    owners: [ownerRef(bmc, true)],
    replicas,
    args,
    ports: containerPorts,
    settings,
    ...virtualMediaAnnotation(bmc),
  });
}

/** Slots declared by a shared agent serving slots up to `maxSlot`: whole blocks, so growth rarely rolls it. */
export function sharedCapacity(maxSlot: number): number {
  return Math.max(SHARED_SLOT_BLOCK, Math.ceil((maxSlot + 1) / SHARED_SLOT_BLOCK) * SHARED_SLOT_BLOCK);
}

/** Deployment of a namespace's shared agent: it reads its BMCs (and their ports) from their status. */
export function sharedDeployment(
  namespace: string,
  owners: readonly VirtualMachineBMC[],
  maxSlot: number,
  replicas: number,
  settings: AgentSettings,
): KObject {
  const ports: ContainerPort[] = [{ name: 'metrics', containerPort: AGENT_METRICS_PORT, protocol: 'TCP' }];
  for (let slot = 0; slot < sharedCapacity(maxSlot); slot++) {
    const p = sharedSlotPorts(slot);
    ports.push({ containerPort: p.ipmi, protocol: 'UDP' }, { containerPort: p.redfish, protocol: 'TCP' });
  }
  return agentDeployment({
    namespace,
    name: SHARED_AGENT_NAME,
    labels: baseLabels('shared'),
    selector: agentSelector('shared', ''),
    owners: sharedOwners(owners),
    replicas,
    args: ['agent', `--namespace=${namespace}`, `--metrics-port=${AGENT_METRICS_PORT}`],
    ports,
    settings,
  });
}

/** Shared objects are owned by every BMC they serve, so they go when the last one goes. */
export function sharedOwners(bmcs: readonly VirtualMachineBMC[]): OwnerReference[] {
  return [...bmcs]
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    .map((b) => ownerRef(b, false));
}

export function sharedLabels(): Record<string, string> {
  return baseLabels('shared');
}

export function perVmLabels(bmcName: string): Record<string, string> {
  return baseLabels('per-vm', bmcName);
}

/** The Service of one BMC: 623/UDP to its IPMI port, 80/TCP (443 with TLS) to its Redfish port. */
export function bmcService(
  bmc: VirtualMachineBMC,
  placement: Placement,
  slot: number | null,
  defaults: ServiceDefaults = {},
): KObject {
  const spec = effectiveSpec(bmc.spec, defaults.type);
  const ports = bmcPorts(bmc, placement, slot);
  const svcPorts: Record<string, unknown>[] = [];
  if (ports.ipmi !== undefined) {
    const p: Record<string, unknown> = {
      name: 'ipmi',
      port: SERVICE_IPMI_PORT,
      protocol: 'UDP',
      targetPort: placement === 'per-vm' ? 'ipmi' : ports.ipmi,
    };
    if (spec.serviceType !== 'ClusterIP' && spec.ipmiNodePort !== null) p.nodePort = spec.ipmiNodePort;
    svcPorts.push(p);
  }
  if (ports.redfish !== undefined) {
    const tls = spec.tlsSecret !== null;
    const p: Record<string, unknown> = {
      name: tls ? 'redfish-tls' : 'redfish',
      port: tls ? 443 : 80,
      protocol: 'TCP',
      targetPort: placement === 'per-vm' ? (tls ? 'redfish-tls' : 'redfish') : ports.redfish,
    };
    if (spec.serviceType !== 'ClusterIP' && spec.redfishNodePort !== null) p.nodePort = spec.redfishNodePort;
    svcPorts.push(p);
  }
  const svcSpec: Record<string, unknown> = {
    type: spec.serviceType,
    selector: agentSelector(placement, bmc.metadata.name),
    ports: svcPorts,
  };
  if (spec.serviceType === 'LoadBalancer' && spec.loadBalancerIP)
    svcSpec.loadBalancerIP = spec.loadBalancerIP;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: bmcObjectName(bmc.metadata.name),
      namespace: bmc.metadata.namespace ?? 'default',
      labels: { ...spec.serviceLabels, ...baseLabels(placement, bmc.metadata.name) },
      annotations: { ...defaults.annotations, ...spec.serviceAnnotations },
      ownerReferences: [ownerRef(bmc, true)],
    },
    spec: svcSpec,
  };
}

/** Marks the `<vm>-virtbmc` Service that serves upstream KubeVirtBMC's address for a BMC. */
export const LABEL_UPSTREAM_ALIAS = 'bmc.kubevirt.io/upstream-alias';

/**
 * The Service named as upstream KubeVirtBMC names it (`<vm>-virtbmc`), selecting the same agent on the
 * same ports as the BMC's own Service. Always ClusterIP: what upstream users have written down is its
 * DNS name, and fixed node ports or a load balancer address belong to the BMC's own Service.
 */
export function upstreamAliasService(
  bmc: VirtualMachineBMC,
  placement: Placement,
  slot: number | null,
  defaults: ServiceDefaults = {},
): KObject {
  const own = bmcService(bmc, placement, slot, defaults);
  const ports = (own.spec.ports as Record<string, unknown>[]).map(({ nodePort: _n, ...p }) => p);
  return {
    ...own,
    metadata: {
      ...own.metadata,
      name: upstreamServiceName(effectiveSpec(bmc.spec).vm),
      labels: { ...own.metadata.labels, [LABEL_UPSTREAM_ALIAS]: 'true' },
    },
    spec: { type: 'ClusterIP', selector: own.spec.selector, ports },
  };
}
