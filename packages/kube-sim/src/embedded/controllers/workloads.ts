/**
 * Deployment and ReplicaSet controllers, Service ClusterIP allocation and the endpoints controller
 * (an Endpoints object per Service with a selector). Binding pods is scheduler.ts's; running them,
 * and publishing where a Service is reachable on 127.0.0.1, the fake node's
 * (packages/kube-sim/src/fakecluster/kubelet).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { EventRecorder } from '../events.ts';
import { clone, deepEqual } from '../patch.ts';
import type { Registry } from '../registry.ts';
import type { ResourceType } from '../resources.ts';
import { matchLabelSelectorObject } from '../selectors.ts';
import type { Obj, StoreEvent } from '../store.ts';
import { type Delays, KeyQueue, type Scheduler } from '../timing.ts';

function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function templateHash(template: Obj): string {
  const h = createHash('sha256')
    .update(JSON.stringify(template ?? {}))
    .digest();
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return [...h.subarray(0, 10)].map((b) => alphabet[b % alphabet.length]).join('');
}

function ownedBy(o: Obj, uid: string): boolean {
  return (o.metadata.ownerReferences ?? []).some((r: Obj) => r.uid === uid && r.controller);
}

function podReady(p: Obj): boolean {
  return (
    p.status?.phase === 'Running' &&
    (p.status?.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True')
  );
}

export class WorkloadControllers {
  private readonly DEPLOY: ResourceType;
  private readonly RS: ResourceType;
  private readonly POD: ResourceType;
  private readonly SVC: ResourceType;
  private readonly queue: KeyQueue;
  private unsubscribe: () => void = () => {};
  private nextIp = 10;
  private readonly usedIps = new Set<string>();

  constructor(
    private readonly reg: Registry,
    sched: Scheduler,
    delays: Delays,
    private readonly events?: EventRecorder,
  ) {
    this.queue = new KeyQueue(sched, delays.podStep, (k) => this.work(k));
    this.DEPLOY = reg.type('apps', 'deployments');
    this.RS = reg.type('apps', 'replicasets');
    this.POD = reg.type('', 'pods');
    this.SVC = reg.type('', 'services');
    reg.addDefaulter('', 'services', (svc, old) => this.defaultService(svc, old));
    reg.addDefaulter('', 'pods', (pod, old) => {
      if (old) return;
      pod.spec ??= {};
      pod.spec.serviceAccountName ??= pod.spec.serviceAccount ?? 'default';
      pod.spec.restartPolicy ??= 'Always';
      pod.spec.terminationGracePeriodSeconds ??= 30;
      pod.spec.dnsPolicy ??= 'ClusterFirst';
      pod.spec.schedulerName ??= 'default-scheduler';
      pod.status ??= { phase: 'Pending', qosClass: 'BestEffort' };
    });
    reg.addDefaulter('apps', 'deployments', (d) => {
      d.spec ??= {};
      d.spec.replicas ??= 1;
      d.spec.revisionHistoryLimit ??= 10;
      d.spec.progressDeadlineSeconds ??= 600;
      d.spec.strategy ??= {
        type: 'RollingUpdate',
        rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' },
      };
    });
  }

  start(): void {
    // kubernetes service in default
    try {
      this.reg.create(
        this.SVC,
        'default',
        {
          metadata: { name: 'kubernetes', labels: { component: 'apiserver', provider: 'kubernetes' } },
          spec: {
            type: 'ClusterIP',
            clusterIP: '10.96.0.1',
            ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }],
          },
        },
        { internal: true },
      );
    } catch {
      // exists
    }
    this.unsubscribe = this.reg.store.subscribe((e) => this.onEvent(e));
  }

  stop(): void {
    this.unsubscribe();
  }

  private defaultService(svc: Obj, old: Obj | undefined): void {
    svc.spec ??= {};
    const spec = svc.spec;
    spec.type ??= 'ClusterIP';
    spec.sessionAffinity ??= 'None';
    spec.ports = (spec.ports ?? []).map((p: Obj) => ({
      ...p,
      protocol: p.protocol ?? 'TCP',
      targetPort: p.targetPort ?? p.port,
    }));
    if (spec.type === 'ExternalName') return;
    if (old?.spec?.clusterIP && spec.clusterIP === undefined) spec.clusterIP = old.spec.clusterIP;
    if (spec.clusterIP === undefined || spec.clusterIP === '') spec.clusterIP = this.allocateIp();
    else if (spec.clusterIP !== 'None') this.usedIps.add(spec.clusterIP);
    spec.clusterIPs = [spec.clusterIP];
    spec.ipFamilies ??= ['IPv4'];
    spec.ipFamilyPolicy ??= 'SingleStack';
    spec.internalTrafficPolicy ??= 'Cluster';
    if (!old) svc.status ??= { loadBalancer: {} };
    if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') {
      let np = 30000 + Math.floor(Math.random() * 2000);
      for (const p of spec.ports) p.nodePort ??= np++;
    }
  }

  /** The next free address of 10.96.0.0/12 (10.96.0.1 is the kubernetes Service). */
  private allocateIp(): string {
    for (;;) {
      const n = this.nextIp++;
      const ip = `10.${96 + ((n >> 16) & 0x0f)}.${(n >> 8) & 0xff}.${n & 0xff}`;
      if ((n & 0xff) === 0 || (n & 0xff) === 255 || this.usedIps.has(ip)) continue;
      this.usedIps.add(ip);
      return ip;
    }
  }

  private onEvent(e: StoreEvent): void {
    const ns = e.obj.metadata?.namespace;
    if (e.key === 'apps/deployments') this.enqueue(`deploy/${ns}/${e.obj.metadata.name}`);
    else if (e.key === 'apps/replicasets') {
      this.enqueue(`rs/${ns}/${e.obj.metadata.name}`);
      for (const r of e.obj.metadata.ownerReferences ?? [])
        if (r.kind === 'Deployment') this.enqueue(`deploy/${ns}/${r.name}`);
    } else if (e.key === '/pods') {
      for (const r of e.obj.metadata.ownerReferences ?? [])
        if (r.kind === 'ReplicaSet') this.enqueue(`rs/${ns}/${r.name}`);
      for (const s of this.reg.store.list('/services', ns)) this.enqueue(`svc/${ns}/${s.metadata.name}`);
    } else if (e.key === '/services') {
      if (e.type === 'DELETED') {
        const ep = this.reg.store.peek('/endpoints', ns, e.obj.metadata.name);
        if (ep?.metadata?.labels?.['endpoints.kubernetes.io/managed-by'] === 'endpoint-controller')
          this.reg.forceRemove(this.reg.type('', 'endpoints'), ns, e.obj.metadata.name);
        if (e.obj.spec?.clusterIP) this.usedIps.delete(e.obj.spec.clusterIP);
      } else this.enqueue(`svc/${ns}/${e.obj.metadata.name}`);
    }
  }

  private enqueue(k: string): void {
    this.queue.add(k);
  }

  private work(k: string): void {
    const [kind, ns, name] = k.split('/') as [string, string, string];
    if (kind === 'deploy') this.reconcileDeployment(ns, name);
    else if (kind === 'rs') this.reconcileReplicaSet(ns, name);
    else if (kind === 'svc') this.reconcileService(ns, name);
  }

  private reconcileDeployment(ns: string, name: string): void {
    const found = this.reg.tryGet(this.DEPLOY, ns, name);
    if (!found || found.metadata.deletionTimestamp) return;
    let d: Obj = found;
    const hash = templateHash(d.spec.template);
    const rsName = `${name}-${hash}`;
    const owned = this.reg.store.list('apps/replicasets', ns).filter((rs) => ownedBy(rs, d.metadata.uid));
    let current = owned.find((rs) => rs.metadata.name === rsName);
    const desired = d.spec.paused ? (current?.spec?.replicas ?? 0) : (d.spec.replicas ?? 1);
    const revision = String(
      1 +
        Math.max(
          0,
          ...owned.map((rs) => Number(rs.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0)),
        ),
    );
    if (!current) {
      const tpl = clone(d.spec.template ?? {});
      tpl.metadata ??= {};
      tpl.metadata.labels = { ...(tpl.metadata.labels ?? {}), 'pod-template-hash': hash };
      current = this.reg.create(
        this.RS,
        ns,
        {
          metadata: {
            name: rsName,
            labels: tpl.metadata.labels,
            annotations: {
              'deployment.kubernetes.io/revision': revision,
              'deployment.kubernetes.io/desired-replicas': String(desired),
            },
            ownerReferences: [
              {
                apiVersion: 'apps/v1',
                kind: 'Deployment',
                name,
                uid: d.metadata.uid,
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          },
          spec: {
            replicas: desired,
            selector: { matchLabels: { ...(d.spec.selector?.matchLabels ?? {}), 'pod-template-hash': hash } },
            template: tpl,
          },
        },
        { internal: true },
      );
      this.events?.record(
        d,
        'Normal',
        'ScalingReplicaSet',
        `Scaled up replica set ${rsName} from 0 to ${desired}`,
        'deployment-controller',
      );
    } else if (current.spec.replicas !== desired) {
      current.spec.replicas = desired;
      current = this.reg.update(this.RS, ns, rsName, current, { internal: true });
    }
    // the Deployment carries the revision of its current ReplicaSet
    const rev = current.metadata.annotations?.['deployment.kubernetes.io/revision'];
    if (rev && d.metadata.annotations?.['deployment.kubernetes.io/revision'] !== rev) {
      const next = clone(d);
      next.metadata.annotations = {
        ...(next.metadata.annotations ?? {}),
        'deployment.kubernetes.io/revision': rev,
      };
      d = this.reg.update(this.DEPLOY, ns, name, next, { internal: true });
    }
    // roll: once the new ReplicaSet is fully ready, old ones go to zero
    const newReady = current.status?.readyReplicas ?? 0;
    const recreate = d.spec.strategy?.type === 'Recreate';
    for (const rs of owned) {
      if (rs.metadata.name === rsName || (rs.spec.replicas ?? 0) === 0) continue;
      if (recreate || newReady >= desired) {
        rs.spec.replicas = 0;
        this.reg.update(this.RS, ns, rs.metadata.name, rs, { internal: true });
      }
    }
    const all = this.reg.store.list('apps/replicasets', ns).filter((rs) => ownedBy(rs, d.metadata.uid));
    const sum = (f: (rs: Obj) => number) => all.reduce((a, rs) => a + f(rs), 0);
    const replicas = sum((rs) => rs.status?.replicas ?? 0);
    const ready = sum((rs) => rs.status?.readyReplicas ?? 0);
    const updated = current.status?.replicas ?? 0;
    const available = ready;
    const status: Obj = {
      observedGeneration: d.metadata.generation,
      replicas,
      updatedReplicas: updated,
      readyReplicas: ready,
      availableReplicas: available,
      ...(replicas - available > 0 ? { unavailableReplicas: replicas - available } : {}),
    };
    if (!status.readyReplicas) delete status.readyReplicas;
    if (!status.availableReplicas) delete status.availableReplicas;
    const old = d.status?.conditions ?? [];
    const cond = (type: string, st: string, reason: string, message: string) => {
      const prev = old.find((c: Obj) => c.type === type);
      return {
        type,
        status: st,
        reason,
        message,
        lastUpdateTime: prev && prev.status === st && prev.reason === reason ? prev.lastUpdateTime : now(),
        lastTransitionTime: prev && prev.status === st ? prev.lastTransitionTime : now(),
      };
    };
    const complete = updated === desired && available >= desired && replicas === desired;
    status.conditions = [
      available >= desired
        ? cond('Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.')
        : cond(
            'Available',
            'False',
            'MinimumReplicasUnavailable',
            'Deployment does not have minimum availability.',
          ),
      complete
        ? cond(
            'Progressing',
            'True',
            'NewReplicaSetAvailable',
            `ReplicaSet "${rsName}" has successfully progressed.`,
          )
        : cond('Progressing', 'True', 'ReplicaSetUpdated', `ReplicaSet "${rsName}" is progressing.`),
    ];
    if (!deepEqual(status, d.status ?? {})) {
      const next = clone(d);
      next.status = status;
      this.reg.update(this.DEPLOY, ns, name, next, { subresource: 'status', internal: true });
    }
  }

  private reconcileReplicaSet(ns: string, name: string): void {
    const rs = this.reg.tryGet(this.RS, ns, name);
    if (!rs || rs.metadata.deletionTimestamp) return;
    const pods = this.reg.store.list('/pods', ns).filter((p) => ownedBy(p, rs.metadata.uid));
    const active = pods.filter(
      (p) => !p.metadata.deletionTimestamp && !['Succeeded', 'Failed'].includes(p.status?.phase),
    );
    const want = rs.spec.replicas ?? 1;
    for (let i = active.length; i < want; i++) {
      const tpl = clone(rs.spec.template ?? {});
      const podName = `${name}-${randomBytes(4).toString('hex').slice(0, 5)}`;
      this.reg.create(
        this.POD,
        ns,
        {
          metadata: {
            name: podName,
            labels: tpl.metadata?.labels ?? {},
            ...(tpl.metadata?.annotations ? { annotations: tpl.metadata.annotations } : {}),
            ownerReferences: [
              {
                apiVersion: 'apps/v1',
                kind: 'ReplicaSet',
                name,
                uid: rs.metadata.uid,
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          },
          spec: tpl.spec ?? {},
        },
        { internal: true },
      );
      this.events?.record(
        rs,
        'Normal',
        'SuccessfulCreate',
        `Created pod: ${podName}`,
        'replicaset-controller',
      );
    }
    if (active.length > want) {
      const extra = active
        .sort((a, b) => Number(podReady(a)) - Number(podReady(b)))
        .slice(0, active.length - want);
      for (const p of extra) this.reg.delete(this.POD, ns, p.metadata.name, {});
    }
    const fresh = this.reg.store
      .list('/pods', ns)
      .filter((p) => ownedBy(p, rs.metadata.uid) && !p.metadata.deletionTimestamp);
    const ready = fresh.filter(podReady).length;
    const status: Obj = {
      replicas: fresh.length,
      fullyLabeledReplicas: fresh.length,
      readyReplicas: ready,
      availableReplicas: ready,
      observedGeneration: rs.metadata.generation,
    };
    if (!status.readyReplicas) delete status.readyReplicas;
    if (!status.availableReplicas) delete status.availableReplicas;
    if (!status.fullyLabeledReplicas) delete status.fullyLabeledReplicas;
    if (!deepEqual(status, rs.status ?? {})) {
      const next = clone(rs);
      next.status = status;
      this.reg.update(this.RS, ns, name, next, { subresource: 'status', internal: true });
    }
  }

  /** The endpoints controller: an Endpoints object per Service with a selector, listing its pods. */
  private reconcileEndpoints(svc: Obj, selector: Record<string, string>): void {
    const ns = svc.metadata.namespace;
    const name = svc.metadata.name;
    const pods = this.reg.store
      .list('/pods', ns)
      .filter(
        (p) =>
          !p.metadata.deletionTimestamp &&
          p.status?.podIP &&
          matchLabelSelectorObject({ matchLabels: selector }, p.metadata.labels),
      );
    const address = (p: Obj) => ({
      ip: p.status.podIP,
      ...(p.spec?.nodeName ? { nodeName: p.spec.nodeName } : {}),
      targetRef: { kind: 'Pod', namespace: ns, name: p.metadata.name, uid: p.metadata.uid },
    });
    const ready = pods.filter(podReady).map(address);
    const notReady = pods.filter((p) => !podReady(p)).map(address);
    const ports = ((svc.spec?.ports ?? []) as Obj[]).map((port) => {
      let target = port.targetPort;
      if (typeof target === 'string') {
        for (const p of pods)
          for (const c of p.spec?.containers ?? [])
            for (const cp of c.ports ?? []) if (cp.name === target) target = cp.containerPort;
      }
      return { ...(port.name ? { name: port.name } : {}), port: target, protocol: port.protocol ?? 'TCP' };
    });
    const subsets =
      ready.length || notReady.length
        ? [
            {
              ...(ready.length ? { addresses: ready } : {}),
              ...(notReady.length ? { notReadyAddresses: notReady } : {}),
              ports,
            },
          ]
        : undefined;
    const EP = this.reg.type('', 'endpoints');
    const cur = this.reg.tryGet(EP, ns, name);
    const labels: Record<string, string> = {
      ...(svc.metadata.labels ?? {}),
      ...(svc.spec?.clusterIP === 'None' ? { 'service.kubernetes.io/headless': '' } : {}),
      'endpoints.kubernetes.io/managed-by': 'endpoint-controller',
    };
    const body: Obj = {
      metadata: {
        ...(cur?.metadata ?? { name }),
        labels,
        annotations: {
          ...(cur?.metadata?.annotations ?? {}),
          'endpoints.kubernetes.io/last-change-trigger-time': now(),
        },
      },
      ...(subsets ? { subsets } : {}),
    };
    if (!cur) {
      this.reg.create(EP, ns, body, { internal: true });
      return;
    }
    if (deepEqual(cur.subsets ?? null, subsets ?? null) && deepEqual(cur.metadata.labels ?? {}, labels))
      return;
    this.reg.update(EP, ns, name, body, { internal: true });
  }

  private reconcileService(ns: string, name: string): void {
    const svc = this.reg.tryGet(this.SVC, ns, name);
    const selector = svc?.spec?.selector;
    if (svc && selector && Object.keys(selector).length) this.reconcileEndpoints(svc, selector);
  }
}
