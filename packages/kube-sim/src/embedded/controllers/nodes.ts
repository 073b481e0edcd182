/**
 * Nodes as kube-apiserver and kube-controller-manager treat them (the node itself, its kubelet, is
 * the fake node of packages/kube-sim/src/fakecluster/kubelet, run against this server):
 *
 * - on create (the Node strategy and the TaintNodesByCondition admission plugin): `podCIDRs`
 *   from `podCIDR`, `status.daemonEndpoints` and every `nodeInfo` field present, and the taint
 *   `node.kubernetes.io/not-ready:NoSchedule`;
 * - the node lifecycle controller's part: a Node whose Ready condition is True loses the
 *   not-ready and unreachable NoSchedule taints, one whose Ready is False gets not-ready back;
 * - the TTL controller's part: the annotation `node.alpha.kubernetes.io/ttl: "0"` (a small cluster).
 *
 * Not done: lease-based health (a node whose kubelet stops is not marked Unknown), eviction, the
 * pod garbage collector of deleted Nodes.
 */
import { clone, deepEqual } from '../patch.ts';
import type { Registry } from '../registry.ts';
import type { ResourceType } from '../resources.ts';
import type { Obj, StoreEvent } from '../store.ts';
import type { Scheduler } from '../timing.ts';

export const NOT_READY_TAINT = 'node.kubernetes.io/not-ready';
export const UNREACHABLE_TAINT = 'node.kubernetes.io/unreachable';
const TTL_ANNOTATION = 'node.alpha.kubernetes.io/ttl';
const NODE_INFO = [
  'machineID',
  'systemUUID',
  'bootID',
  'kernelVersion',
  'osImage',
  'containerRuntimeVersion',
  'kubeletVersion',
  'kubeProxyVersion',
  'operatingSystem',
  'architecture',
];

/** The status of a Node's Ready condition: True, False or Unknown (no condition). */
export function nodeReady(node: Obj): string {
  return (node.status?.conditions ?? []).find((c: Obj) => c.type === 'Ready')?.status ?? 'Unknown';
}

export class NodeController {
  private readonly NODE: ResourceType;
  private readonly queue = new Set<string>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly reg: Registry,
    private readonly sched: Scheduler,
  ) {
    this.NODE = reg.type('', 'nodes');
    reg.addDefaulter('', 'nodes', (node, old) => {
      node.spec = { ...(node.spec ?? {}) };
      if (node.spec.podCIDR && !node.spec.podCIDRs) node.spec.podCIDRs = [node.spec.podCIDR];
      if (old) return;
      const taints: Obj[] = node.spec.taints ?? [];
      if (!taints.some((t) => t.key === NOT_READY_TAINT && t.effect === 'NoSchedule'))
        node.spec.taints = [...taints, { key: NOT_READY_TAINT, effect: 'NoSchedule' }];
      node.status = { ...(node.status ?? {}) };
      node.status.daemonEndpoints ??= { kubeletEndpoint: { Port: 0 } };
      node.status.nodeInfo = Object.fromEntries(NODE_INFO.map((k) => [k, node.status.nodeInfo?.[k] ?? '']));
    });
    this.unsubscribe = reg.store.subscribe((e) => this.onEvent(e));
  }

  stop(): void {
    this.unsubscribe();
  }

  private onEvent(e: StoreEvent): void {
    if (e.key !== '/nodes' || e.type === 'DELETED') return;
    const name = e.obj.metadata.name;
    if (this.queue.has(name)) return;
    this.queue.add(name);
    this.sched.soon(() => {
      this.queue.delete(name);
      try {
        this.reconcile(name);
      } catch {
        // raced with the kubelet's write: its event brings us back
      }
    });
  }

  private reconcile(name: string): void {
    const node = this.reg.tryGet(this.NODE, undefined, name);
    if (!node || node.metadata.deletionTimestamp) return;
    const next = clone(node);
    next.metadata.annotations = { ...(next.metadata.annotations ?? {}), [TTL_ANNOTATION]: '0' };
    const taints: Obj[] = next.spec?.taints ?? [];
    const conditionTaints = [NOT_READY_TAINT, UNREACHABLE_TAINT];
    const ready = nodeReady(node);
    const kept = taints.filter((t) => !(conditionTaints.includes(t.key) && t.effect === 'NoSchedule'));
    const want =
      ready === 'True'
        ? kept
        : ready === 'False' && !taints.some((t) => t.key === NOT_READY_TAINT && t.effect === 'NoSchedule')
          ? [...kept, { key: NOT_READY_TAINT, effect: 'NoSchedule' }]
          : taints;
    if (!deepEqual(want, taints)) {
      if (want.length) next.spec.taints = want;
      else delete next.spec.taints;
    }
    if (deepEqual(next, node)) return;
    this.reg.update(this.NODE, undefined, name, next, { internal: true });
  }
}
