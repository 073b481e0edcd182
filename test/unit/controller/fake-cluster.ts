import { randomUUID } from 'node:crypto';
import type { ClusterState, ClusterWriter } from '../../../src/controller/reconciler.ts';
import {
  type KObject,
  LABEL_BMC,
  LABEL_MANAGED_BY,
  type VirtualMachineBMC,
} from '../../../src/controller/types.ts';

/**
 * An in-memory stand-in for the API server for unit tests of the reconcile logic: it stores
 * objects, assigns uid/resourceVersion/clusterIP, and counts every write.
 */
export class FakeCluster implements ClusterState, ClusterWriter {
  readonly objects = new Map<string, KObject>();
  readonly writes: string[] = [];
  readonly events: Array<{ bmc: string; type: string; reason: string; message: string }> = [];
  #rv = 1;
  #ip = 10;

  static key(kind: string, ns: string, name: string): string {
    return `${kind}/${ns}/${name}`;
  }

  put(obj: KObject): KObject {
    const o = structuredClone(obj);
    o.metadata.uid ??= randomUUID();
    o.metadata.resourceVersion = String(++this.#rv);
    o.metadata.generation ??= 1;
    o.metadata.creationTimestamp ??= new Date(Date.now() + this.#rv).toISOString();
    this.objects.set(FakeCluster.key(o.kind, o.metadata.namespace ?? '', o.metadata.name), o);
    return o;
  }

  get(kind: string, ns: string, name: string): KObject | undefined {
    return this.objects.get(FakeCluster.key(kind, ns, name));
  }

  remove(kind: string, ns: string, name: string): void {
    this.objects.delete(FakeCluster.key(kind, ns, name));
  }

  ofKind(kind: string, ns: string): KObject[] {
    return [...this.objects.values()].filter((o) => o.kind === kind && o.metadata.namespace === ns);
  }

  bmcs(namespace: string): readonly VirtualMachineBMC[] {
    return this.ofKind('VirtualMachineBMC', namespace) as VirtualMachineBMC[];
  }
  vm(namespace: string, name: string) {
    return this.get('VirtualMachine', namespace, name);
  }
  secret(namespace: string, name: string) {
    return this.get('Secret', namespace, name);
  }
  /** As the controller's caches select them (OWNED_CONFIGMAP_SELECTOR for ConfigMaps). */
  owned(namespace: string): readonly KObject[] {
    return [...this.objects.values()].filter((o) => {
      if (o.metadata.namespace !== namespace) return false;
      const by = o.metadata.labels?.[LABEL_MANAGED_BY];
      if (o.kind === 'ConfigMap')
        return (by === 'kubevirtbmc-controller' || by === 'kubevirtbmc') && !!o.metadata.labels?.[LABEL_BMC];
      return by === 'kubevirtbmc-controller';
    });
  }

  async create(obj: KObject): Promise<KObject> {
    this.writes.push(`create ${obj.kind}/${obj.metadata.name}`);
    if (this.get(obj.kind, obj.metadata.namespace ?? '', obj.metadata.name))
      throw Object.assign(new Error('exists'), { code: 409 });
    const o = structuredClone(obj);
    if (o.kind === 'Service') o.spec.clusterIP = `10.96.0.${++this.#ip}`;
    if (o.kind === 'Deployment') o.status = {};
    return this.put(o);
  }
  async replace(obj: KObject): Promise<KObject> {
    this.writes.push(`replace ${obj.kind}/${obj.metadata.name}`);
    const cur = this.get(obj.kind, obj.metadata.namespace ?? '', obj.metadata.name);
    if (!cur) throw Object.assign(new Error('not found'), { code: 404 });
    if (cur.metadata.resourceVersion !== obj.metadata.resourceVersion)
      throw Object.assign(new Error('conflict'), { code: 409 });
    return this.put(obj);
  }
  async delete(obj: KObject): Promise<void> {
    this.writes.push(`delete ${obj.kind}/${obj.metadata.name}`);
    this.remove(obj.kind, obj.metadata.namespace ?? '', obj.metadata.name);
  }
  async patchStatus(bmc: VirtualMachineBMC, status: Record<string, unknown>): Promise<void> {
    this.writes.push(`status ${bmc.metadata.name}`);
    const cur = this.get('VirtualMachineBMC', bmc.metadata.namespace ?? '', bmc.metadata.name)!;
    const merged: Record<string, unknown> = { ...(cur.status ?? {}) };
    for (const [k, v] of Object.entries(status)) {
      if (v === null) delete merged[k];
      else if (v && typeof v === 'object' && !Array.isArray(v)) {
        const inner: Record<string, unknown> = { ...((merged[k] as object) ?? {}) };
        for (const [kk, vv] of Object.entries(v))
          if (vv === null) delete inner[kk];
          else inner[kk] = vv;
        merged[k] = inner;
      } else merged[k] = v;
    }
    this.put({ ...cur, status: merged });
  }
  async event(bmc: VirtualMachineBMC, type: string, reason: string, message: string): Promise<void> {
    this.events.push({ bmc: bmc.metadata.name, type, reason, message });
  }

  /** What a Deployment controller would report once the agent pods are up. */
  markAvailable(ns: string, name: string, replicas = 1): void {
    const d = this.get('Deployment', ns, name)!;
    this.put({ ...d, status: { availableReplicas: replicas, readyReplicas: replicas } });
  }
}

export function vm(ns: string, name: string): KObject {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: ns },
    spec: { runStrategy: 'Halted' },
  };
}

export function secret(ns: string, name: string, data: Record<string, string>): KObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: ns },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  };
}

export function bmc(
  ns: string,
  name: string,
  vmName: string,
  secretName: string,
  extra: Record<string, unknown> = {},
): VirtualMachineBMC {
  return {
    apiVersion: 'bmc.kubevirt.io/v1beta1',
    kind: 'VirtualMachineBMC',
    metadata: { name, namespace: ns },
    spec: { virtualMachineRef: { name: vmName }, authSecretRef: { name: secretName }, ...extra },
  };
}
