/**
 * The fake node's service proxy. A real kube-proxy programs ClusterIPs; pods here all share
 * 127.0.0.1 and bind mapped host ports, so instead, for every Service whose selector matches
 * Running pods on this node, it records where each Service port is reachable from this machine:
 * the annotation `sim.kubevirtbmc.io/endpoints` = `{"<port>/<PROTO>":"127.0.0.1:<hostPort>"}`,
 * each Service port's `targetPort` (number, or container port name) resolved to the pod's mapped
 * host port, from ready pods only (as kube-proxy routes; all Running ones when the Service sets
 * publishNotReadyAddresses). src/controller/reconciler.ts `serviceEndpoints()` reads it, on the
 * real control plane and on the embedded cluster (which runs this node). A Service with a selector
 * gets the annotation at once (`{}` while no ready pod backs it), so the controller never reports
 * the unreachable ClusterIP meanwhile; it is rewritten when the pods change.
 *
 * One fake node per cluster: a second node would write the same annotation with its own pods.
 */
import { isNotFound, type KubeClient } from '../../../../../src/kube/client.ts';
import { Informer } from '../../../../../src/kube/informer.ts';
import { ENDPOINTS_ANNOTATION, HOST_PORTS_ANNOTATION, type Logger, type Pod, type Service } from './types.ts';

export interface ServiceProxyOptions {
  client: KubeClient;
  /** This node's pods (shared with the kubelet). */
  pods: Informer<Pod>;
  /** The host port of a pod's container port (`"623/UDP"`), from the kubelet. */
  hostPort: (namespace: string, name: string, key: string) => number | undefined;
  logger?: Logger;
}

function podReady(p: Pod): boolean {
  return (
    p.status?.phase === 'Running' &&
    (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

function selects(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** The endpoints map of one Service from the pods that back it. */
export function endpointsOf(
  svc: Service,
  pods: readonly Pod[],
  hostPort: (pod: Pod, key: string) => number | undefined,
): Record<string, string> {
  const selector = svc.spec?.selector;
  const map: Record<string, string> = {};
  if (!selector || Object.keys(selector).length === 0) return map;
  const backing = pods
    .filter(
      (p) =>
        p.metadata.namespace === svc.metadata.namespace &&
        !p.metadata.deletionTimestamp &&
        p.status?.phase === 'Running' &&
        // as kube-proxy: only ready endpoints carry traffic, unless the Service publishes the others
        (podReady(p) || svc.spec?.publishNotReadyAddresses === true) &&
        selects(selector, p.metadata.labels),
    )
    .sort((a, b) => Number(podReady(b)) - Number(podReady(a)));
  for (const port of svc.spec?.ports ?? []) {
    const proto = port.protocol ?? 'TCP';
    const target = port.targetPort ?? port.port;
    for (const pod of backing) {
      let containerPort: number | undefined;
      for (const c of pod.spec?.containers ?? []) {
        for (const cp of c.ports ?? []) {
          if ((cp.protocol ?? 'TCP') !== proto) continue;
          if (typeof target === 'string' ? cp.name === target : cp.containerPort === target)
            containerPort = cp.containerPort;
        }
      }
      if (containerPort === undefined && typeof target === 'number') containerPort = target;
      if (containerPort === undefined) continue;
      const host = hostPort(pod, `${containerPort}/${proto}`);
      if (host === undefined) continue;
      map[`${port.port}/${proto}`] = `127.0.0.1:${host}`;
      break;
    }
  }
  return map;
}

export class ServiceProxy {
  readonly #o: ServiceProxyOptions;
  readonly #services: Informer<Service>;
  readonly #endpoints = new Map<string, Record<string, string>>();
  readonly #queue = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #draining: Promise<void> | undefined;
  #stopped = false;
  readonly #unsubscribe: Array<() => void> = [];

  constructor(options: ServiceProxyOptions) {
    this.#o = options;
    this.#services = new Informer<Service>(options.client, {
      path: '/api/v1/services',
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }

  async start(): Promise<void> {
    this.#unsubscribe.push(
      this.#services.on((type, svc) => {
        const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
        if (type === 'delete') this.#endpoints.delete(key);
        else this.#enqueue(key);
      }),
      this.#o.pods.on((_type, pod) => {
        for (const s of this.#services.list(pod.metadata.namespace))
          this.#enqueue(`${s.metadata.namespace}/${s.metadata.name}`);
      }),
    );
    await this.#services.start();
  }

  /** The endpoints last computed for a Service (what its annotation says once written). */
  serviceEndpoints(namespace: string, name: string): Record<string, string> {
    return { ...(this.#endpoints.get(`${namespace}/${name}`) ?? {}) };
  }

  #enqueue(key: string): void {
    if (this.#stopped) return;
    this.#queue.add(key);
    if (this.#timer || this.#draining) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#draining = this.#drain().finally(() => {
        this.#draining = undefined;
        if (this.#queue.size && !this.#stopped) this.#enqueue([...this.#queue][0]!);
      });
    }, 10);
  }

  #hostPort = (pod: Pod, key: string): number | undefined => {
    const live = this.#o.hostPort(pod.metadata.namespace ?? 'default', pod.metadata.name, key);
    if (live !== undefined) return live;
    try {
      const published = JSON.parse(pod.metadata.annotations?.[HOST_PORTS_ANNOTATION] ?? '{}') as Record<
        string,
        number
      >;
      return published[key] === undefined ? undefined : Number(published[key]);
    } catch {
      return undefined;
    }
  };

  async #drain(): Promise<void> {
    const keys = [...this.#queue];
    this.#queue.clear();
    for (const key of keys) {
      if (this.#stopped) return;
      const [ns, name] = key.split('/') as [string, string];
      try {
        await this.#reconcile(ns, name);
      } catch (err) {
        this.#o.logger?.warn(
          { service: key, err: String(err) },
          'fake service proxy: cannot write endpoints',
        );
        setTimeout(() => this.#enqueue(key), 500).unref();
      }
    }
  }

  async #reconcile(ns: string, name: string): Promise<void> {
    const svc = this.#services.get(ns, name);
    if (!svc) return;
    const map = endpointsOf(svc, this.#o.pods.list(ns), this.#hostPort);
    this.#endpoints.set(`${ns}/${name}`, map);
    const text = JSON.stringify(map);
    const cur = svc.metadata.annotations?.[ENDPOINTS_ANNOTATION];
    // A Service with a selector is this node's to publish from the start (`{}` until a pod backs it),
    // so a reader knows addresses will be published here and does not take the ClusterIP meanwhile.
    const selects = Object.keys(svc.spec?.selector ?? {}).length > 0;
    if (cur === text || (cur === undefined && Object.keys(map).length === 0 && !selects)) return;
    try {
      await this.#o.client.request(
        'PATCH',
        `/api/v1/namespaces/${encodeURIComponent(ns)}/services/${encodeURIComponent(name)}`,
        {
          body: { metadata: { uid: svc.metadata.uid, annotations: { [ENDPOINTS_ANNOTATION]: text } } },
          contentType: 'application/merge-patch+json',
        },
      );
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    for (const u of this.#unsubscribe) u();
    await this.#draining;
    await this.#services.stop();
  }
}
