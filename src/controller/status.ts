/**
 * A VirtualMachineBMC's status, computed: its conditions from what the reconcile found, the status
 * object, the merge patch that turns the old status into it, and the Events that tell the story in
 * `kubectl describe vmbmc`. Pure functions; the reconciler writes their results.
 */
import { HOTPLUG_CONDITION } from '../kubevirt/hotplug.ts';
import { deepEqual } from './drift.ts';
import type { BmcStatus, Condition, ConditionStatus, KObject, Placement } from './types.ts';

export type ConditionValue = [status: ConditionStatus, reason: string, message: string];

/** What the reconcile found out about one BMC's dependencies. */
export interface Dependencies {
  vmOk: boolean;
  vmMessage: string;
  secretOk: boolean;
  secretReason: string;
  secretMessage: string;
  /** The agent should run: the VM exists and the Secret is usable. */
  active: boolean;
}

/** Start-up states: reported as Normal Events, never as warnings. */
export const TRANSIENT_REASONS: ReadonlySet<string> = new Set([
  'AgentCreating',
  'AgentStarting',
  'ServicePending',
]);

export function agentCondition(
  deps: Dependencies,
  deploy: KObject | undefined,
  agentName: string,
  namespace: string,
  placement: Placement = 'per-vm',
): ConditionValue {
  if (!deps.active) {
    const why = !deps.vmOk ? 'the VirtualMachine is missing' : 'the credentials Secret is not usable';
    // The shared agent may well run for the namespace's other BMCs: it just does not serve this one.
    if (placement === 'shared')
      return ['False', 'BMCNotServed', `the shared agent ${agentName} does not serve this BMC: ${why}`];
    return ['False', 'AgentScaledDown', `agent not running: ${why}`];
  }
  if (!deploy) return ['False', 'AgentCreating', `creating Deployment ${agentName}`];
  const available = Number(deploy.status?.availableReplicas ?? deploy.status?.readyReplicas ?? 0);
  if (available >= 1) {
    const replicas = `${available} available replica${available === 1 ? '' : 's'}`;
    return ['True', 'AgentRunning', `Deployment ${agentName} has ${replicas}`];
  }
  return [
    'False',
    'AgentStarting',
    `Deployment ${agentName} has no available replica yet (kubectl -n ${namespace} describe deployment ${agentName})`,
  ];
}

export function readyCondition(
  deps: Dependencies,
  agent: ConditionValue,
  endpoints: { ipmi?: string; redfish?: string; loadBalancerIP?: string; published?: boolean },
  serviceName: string,
): ConditionValue {
  if (!deps.vmOk) return ['False', 'VirtualMachineNotFound', deps.vmMessage];
  if (!deps.secretOk) return ['False', deps.secretReason, deps.secretMessage];
  if (agent[0] !== 'True') return ['False', agent[1], agent[2]];
  if (endpoints.ipmi === undefined && endpoints.redfish === undefined)
    return ['False', 'ServicePending', `Service ${serviceName} has no address yet`];
  const where = [
    endpoints.ipmi && `IPMI at ${endpoints.ipmi}`,
    endpoints.redfish && `Redfish at ${endpoints.redfish}`,
  ];
  return ['True', 'BMCReady', `${where.filter(Boolean).join(', ')} (${addressKind(endpoints)})`];
}

/** What kind of address the endpoints are, so a user knows where they can be reached from. */
export function addressKind(endpoints: { loadBalancerIP?: string; published?: boolean }): string {
  if (endpoints.published) return "published on the node's host by the cluster";
  if (endpoints.loadBalancerIP) return "the Service's load balancer address";
  return "the Service's cluster IP: reachable from inside the cluster only";
}

/**
 * The conditions: Ready, ServiceReady (upstream KubeVirtBMC's name for it, the same value), the
 * three dependencies, and MediaHotplugAvailable (whether KubeVirt hot-plugs images into the running
 * VM: src/kubevirt/hotplug.ts; not part of Ready). A condition keeps its lastTransitionTime while its
 * status stays the same.
 */
export function conditions(
  deps: Dependencies,
  agent: ConditionValue,
  ready: ConditionValue,
  old: readonly Condition[] | undefined,
  generation: number,
  now: string,
  hotplug?: ConditionValue,
): Condition[] {
  const cond = (type: string, [status, reason, message]: ConditionValue): Condition => {
    const prev = old?.find((c) => c.type === type);
    return {
      type,
      status,
      reason,
      message,
      observedGeneration: generation,
      lastTransitionTime:
        prev && prev.status === status && prev.lastTransitionTime ? prev.lastTransitionTime : now,
    };
  };
  return [
    cond('Ready', ready),
    cond(
      'VirtualMachineAvailable',
      deps.vmOk
        ? ['True', 'VirtualMachineFound', deps.vmMessage]
        : ['False', 'VirtualMachineNotFound', deps.vmMessage],
    ),
    cond(
      'SecretAvailable',
      deps.secretOk
        ? ['True', 'SecretValid', deps.secretMessage]
        : ['False', deps.secretReason, deps.secretMessage],
    ),
    cond('AgentAvailable', agent),
    cond('ServiceReady', ready),
    ...(hotplug ? [cond(HOTPLUG_CONDITION, hotplug)] : []),
  ];
}

export interface StatusParts {
  /** An upstream `status.bootOverride` not taken over yet: kept as it is. */
  bootOverride?: BmcStatus['bootOverride'];
  generation: number;
  placement: Placement;
  agentName: string;
  serviceName: string;
  service: KObject | undefined;
  ports: { ipmi?: number; redfish?: number };
  endpoints: { ipmi?: string; redfish?: string; loadBalancerIP?: string };
  conditions: Condition[];
}

export function buildStatus(s: StatusParts): BmcStatus {
  const clusterIP = s.service?.spec?.clusterIP;
  return {
    observedGeneration: s.generation,
    placement: s.placement,
    agent: s.agentName,
    service: s.serviceName,
    ...(clusterIP && clusterIP !== 'None' ? { clusterIP: clusterIP as string } : {}),
    ...(s.endpoints.loadBalancerIP ? { loadBalancerIP: s.endpoints.loadBalancerIP } : {}),
    ports: {
      ...(s.ports.ipmi ? { ipmi: s.ports.ipmi } : {}),
      ...(s.ports.redfish ? { redfish: s.ports.redfish } : {}),
    },
    endpoints: {
      ...(s.endpoints.ipmi ? { ipmi: s.endpoints.ipmi } : {}),
      ...(s.endpoints.redfish ? { redfish: s.endpoints.redfish } : {}),
    },
    conditions: s.conditions,
    ...(s.bootOverride ? { bootOverride: s.bootOverride } : {}),
  };
}

/** The merge patch from `old` to `next`, or null when they are the same. */
export function statusPatch(old: BmcStatus, next: BmcStatus): Record<string, unknown> | null {
  if (deepEqual(normalise(next), normalise(old))) return null;
  const patch: Record<string, unknown> = { ...next };
  for (const k of Object.keys(old)) if (!(k in patch)) patch[k] = null;
  for (const k of ['ports', 'endpoints'] as const) {
    const o = old[k] as Record<string, unknown> | undefined;
    const n = { ...(next[k] as Record<string, unknown>) };
    for (const kk of Object.keys(o ?? {})) if (!(kk in n)) n[kk] = null;
    patch[k] = n;
  }
  return patch;
}

function normalise(s: BmcStatus): unknown {
  return JSON.parse(JSON.stringify(s ?? {}));
}

export interface StatusEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/**
 * The Events a status change deserves: Ready changes, and the dependencies (VM, Secret, agent)
 * failing or recovering. Start-up states are Normal Events.
 */
export function statusEvents(
  old: readonly Condition[] | undefined,
  next: readonly Condition[],
): StatusEvent[] {
  const events: StatusEvent[] = [];
  for (const c of next) {
    // The same story as Ready: told once.
    if (c.type === 'ServiceReady') continue;
    const prev = old?.find((x) => x.type === c.type);
    if (prev && prev.status === c.status && prev.reason === c.reason) continue;
    if (c.type !== 'Ready') {
      if (c.status === 'True' && (!prev || prev.status === 'True' || TRANSIENT_REASONS.has(prev.reason)))
        continue;
      if (c.type === 'AgentAvailable' && c.status === 'False' && prev?.status !== 'True') continue;
    }
    const transient = TRANSIENT_REASONS.has(c.reason);
    events.push({
      type: c.status === 'False' && !transient ? 'Warning' : 'Normal',
      reason: c.reason,
      message: `${c.type}=${c.status}: ${c.message}`,
    });
  }
  return events;
}
