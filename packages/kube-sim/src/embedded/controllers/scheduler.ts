/**
 * Pod binding, as kube-apiserver serves it (`POST .../pods/<name>/binding`: the Binding storage
 * sets `spec.nodeName` and the PodScheduled condition in one write), and a minimal stand-in for
 * kube-scheduler: a pod of the default scheduler with no node is bound, through that same binding,
 * to a schedulable Node whose NoSchedule/NoExecute taints it tolerates (the not-ready taint keeps
 * pods off a node until its kubelet reports Ready). With none, the pod stays Pending with
 * kube-scheduler's Unschedulable condition. No resources, affinity, spreading or preemption: the
 * embedded cluster has one node, the fake node of packages/kube-sim/src/fakecluster/kubelet.
 */
import { ApiError, badRequest, conflict } from '../errors.ts';
import type { EventRecorder } from '../events.ts';
import { clone, deepEqual } from '../patch.ts';
import type { Registry } from '../registry.ts';
import type { ResourceType } from '../resources.ts';
import type { Obj, StoreEvent } from '../store.ts';
import { type Delays, KeyQueue, type Scheduler } from '../timing.ts';

export const DEFAULT_SCHEDULER = 'default-scheduler';

function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Sets or replaces one pod condition (the transition time kept when its status did not change). */
function withCondition(conditions: Obj[] | undefined, c: Obj): Obj[] {
  const old = (conditions ?? []).find((x) => x.type === c.type);
  const next = old && old.status === c.status ? { ...c, lastTransitionTime: old.lastTransitionTime } : c;
  return old ? (conditions ?? []).map((x) => (x.type === c.type ? next : x)) : [...(conditions ?? []), next];
}

/** `POST pods/<name>/binding`: binds the pod to the Binding's target node; the answer is a Status. */
export function bindPod(reg: Registry, namespace: string, name: string, binding: Obj): Obj {
  if (binding?.metadata?.name !== undefined && binding.metadata.name !== name)
    throw badRequest('name in URL does not match name in Binding object');
  const kind = binding?.target?.kind ?? '';
  if (kind !== 'Node' && kind !== '')
    throw new ApiError(
      500,
      '',
      `target.kind: Unsupported value: ${JSON.stringify(kind)}: supported values: "Node", "<empty>"`,
    );
  const POD = reg.type('', 'pods');
  const pod = reg.get(POD, namespace, name);
  if (pod.metadata.deletionTimestamp)
    throw conflict('', 'pods/binding', name, `pod ${name} is being deleted, cannot be assigned to a host`);
  if (pod.spec?.nodeName)
    throw conflict(
      '',
      'pods/binding',
      name,
      `pod ${name} is already assigned to node ${JSON.stringify(pod.spec.nodeName)}`,
    );
  const next = clone(pod);
  next.spec.nodeName = String(binding?.target?.name ?? '');
  next.status = {
    ...(next.status ?? {}),
    conditions: withCondition(next.status?.conditions, {
      type: 'PodScheduled',
      status: 'True',
      lastProbeTime: null,
      lastTransitionTime: now(),
    }),
  };
  reg.update(POD, namespace, name, next, { internal: true });
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };
}

/** Whether a toleration of the pod tolerates a taint (kube's ToleratesTaint). */
function tolerates(tolerations: Obj[], taint: Obj): boolean {
  return tolerations.some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if ((t.operator ?? 'Equal') === 'Exists') return !t.key || t.key === taint.key;
    return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
  });
}

export class PodBinder {
  private readonly POD: ResourceType;
  private readonly queue: KeyQueue;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly reg: Registry,
    sched: Scheduler,
    delays: Delays,
    private readonly events?: EventRecorder,
  ) {
    this.queue = new KeyQueue(sched, delays.podStep, (key) => {
      const [ns, name] = key.split('/') as [string, string];
      this.schedule(ns, name);
    });
    this.POD = reg.type('', 'pods');
    this.unsubscribe = reg.store.subscribe((e) => this.onEvent(e));
  }

  stop(): void {
    this.unsubscribe();
  }

  private onEvent(e: StoreEvent): void {
    if (e.type === 'DELETED') return;
    if (e.key === '/pods' && !e.obj.spec?.nodeName)
      this.enqueue(`${e.obj.metadata.namespace}/${e.obj.metadata.name}`);
    else if (e.key === '/nodes')
      for (const p of this.reg.store.list('/pods'))
        if (!p.spec?.nodeName) this.enqueue(`${p.metadata.namespace}/${p.metadata.name}`);
  }

  private enqueue(key: string): void {
    this.queue.add(key);
  }

  private schedule(ns: string, name: string): void {
    const pod = this.reg.tryGet(this.POD, ns, name);
    if (!pod || pod.spec?.nodeName || pod.metadata.deletionTimestamp) return;
    if ((pod.spec?.schedulerName ?? DEFAULT_SCHEDULER) !== DEFAULT_SCHEDULER) return;
    const nodes = this.reg.store.list('/nodes').filter((n) => !n.metadata.deletionTimestamp);
    const tolerations: Obj[] = pod.spec?.tolerations ?? [];
    const reasons = new Map<string, number>();
    const fits = nodes.filter((n) => {
      if (n.spec?.unschedulable) {
        reasons.set('node(s) were unschedulable', (reasons.get('node(s) were unschedulable') ?? 0) + 1);
        return false;
      }
      const taint = ((n.spec?.taints ?? []) as Obj[]).find(
        (t) => (t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !tolerates(tolerations, t),
      );
      if (taint) {
        const r = `node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`;
        reasons.set(r, (reasons.get(r) ?? 0) + 1);
        return false;
      }
      return true;
    });
    if (fits.length) {
      // the node with the fewest pods
      const load = (n: Obj) =>
        this.reg.store.list('/pods').filter((p) => p.spec?.nodeName === n.metadata.name).length;
      const node = fits.sort((a, b) => load(a) - load(b))[0]!;
      bindPod(this.reg, ns, name, { metadata: { name }, target: { kind: 'Node', name: node.metadata.name } });
      this.events?.record(
        pod,
        'Normal',
        'Scheduled',
        `Successfully assigned ${ns}/${name} to ${node.metadata.name}`,
        DEFAULT_SCHEDULER,
      );
      return;
    }
    const total = nodes.length;
    const message = total
      ? `0/${total} nodes are available: ${[...reasons].map(([r, n]) => `${n} ${r}`).join(', ')}. preemption: 0/${total} nodes are available: ${total} Preemption is not helpful for scheduling.`
      : 'no nodes available to schedule pods';
    const conditions = withCondition(pod.status?.conditions, {
      type: 'PodScheduled',
      status: 'False',
      lastProbeTime: null,
      lastTransitionTime: now(),
      reason: 'Unschedulable',
      message,
    });
    if (deepEqual(conditions, pod.status?.conditions ?? [])) return;
    const next = clone(pod);
    next.status = { ...(next.status ?? {}), conditions };
    this.reg.update(this.POD, ns, name, next, { subresource: 'status', internal: true });
  }
}
