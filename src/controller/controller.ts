/**
 * The controller process: informers feed a work queue of namespaces; the leader reconciles them.
 * No periodic resync: work happens only when a watched object changes (or a write failed and is
 * retried), so an idle cluster costs no API requests beyond the open watches.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { KubeClient } from '../kube/client.ts';
import type { KubeAccess } from '../kube/config.ts';
import { isNotFound } from '../kube/errors.ts';
import { Informer } from '../kube/informer.ts';
import { apiPath, apiVersionOf, groupVersionPath, KINDS } from '../kube/paths.ts';
import type { ResourceKind } from '../kube/types.ts';
import type { KubeVirtCr } from '../kubevirt/hotplug.ts';
import type { AgentSettings } from './builders.ts';
import { LeaderElector } from './leader.ts';
import { NamespacedCache } from './namespaces.ts';
import { WorkQueue } from './queue.ts';
import { type ClusterState, Reconciler } from './reconciler.ts';
import {
  BMC_SECRET_SELECTOR,
  LABEL_BMC_SECRET,
  MISSING_SECRET_RECHECK_MS,
  NamedSecrets,
  namedSecrets,
} from './secrets.ts';
import {
  API_VERSION,
  BMC_KIND,
  effectiveSpec,
  GROUP,
  KIND,
  type KObject,
  LABEL_AUTO_CREATED,
  LABEL_MANAGED_BY,
  MANAGED_BY,
  OWNED_CONFIGMAP_SELECTOR,
  type Placement,
  VERSION,
  type VirtualMachineBMC,
} from './types.ts';
import { ApiWriter, collectionPath } from './writer.ts';

export interface ControllerOptions {
  kubeConfig: KubeAccess;
  placement: Placement;
  agent: AgentSettings;
  /** null: no leader election (a single replica). */
  leaderElection?: {
    namespace: string;
    name?: string;
    identity?: string;
    leaseDurationSeconds?: number;
    renewDeadlineMs?: number;
    retryPeriodMs?: number;
  } | null;
  /**
   * The namespaces whose VirtualMachineBMCs are reconciled, each watched on its own (the controller
   * then needs no cluster-wide read of those kinds); null or empty: every namespace.
   */
  watchNamespaces?: readonly string[] | null;
  /** `key` or `key=value`: VMs carrying it get a VirtualMachineBMC (and a generated Secret). */
  autoCreateLabel?: string | null;
  logger?: Logger;
  /** Port for /healthz, /readyz and /metrics; null: no server. */
  metricsPort?: number | null;
  metricsHost?: string;
  workers?: number;
}

/** The kinds the controller creates and owns, watched across the watched namespaces by its label. */
const OWNED_KINDS: ReadonlyArray<{ kind: ResourceKind; labelSelector: string }> = [
  ...[KINDS.Deployment, KINDS.Service, KINDS.ServiceAccount, KINDS.Role, KINDS.RoleBinding].map((kind) => ({
    kind,
    labelSelector: `${LABEL_MANAGED_BY}=${MANAGED_BY}`,
  })),
  { kind: KINDS.ConfigMap, labelSelector: OWNED_CONFIGMAP_SELECTOR },
];

const VM_KIND = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines' } as const;
const KUBEVIRT_KIND = { group: 'kubevirt.io', version: 'v1', plural: 'kubevirts' } as const;
/** How long start-up waits for the KubeVirt CR before reporting hot-plug support as unknown. */
const KUBEVIRT_CR_WAIT_MS = 5_000;

export class BmcController {
  readonly client: KubeClient;
  readonly registry = new Registry();
  readonly #o: ControllerOptions;
  readonly #log: Logger | undefined;
  readonly #bmcs: NamespacedCache<VirtualMachineBMC>;
  readonly #vms: NamespacedCache<KObject>;
  /** The KubeVirt CR (its feature gates): optional, never part of readiness. */
  readonly #kubevirts: Informer<KObject & KubeVirtCr>;
  /** Only the Secrets BMCs name (labelled by #namedSecrets), not every Secret of the cluster. */
  readonly #secrets: NamespacedCache<KObject>;
  readonly #namedSecrets: NamedSecrets;
  readonly #owned: Map<string, NamespacedCache<KObject>>;
  readonly #queue: WorkQueue;
  readonly #reconciler: Reconciler;
  readonly #writer: ApiWriter;
  readonly #elector: LeaderElector | null;
  #server: http.Server | null = null;
  #leading = false;
  #started = false;
  readonly #metrics: {
    reconciles: Counter<'result'>;
    duration: Histogram<string>;
    requests: Counter<'method' | 'code'>;
    leader: Gauge<string>;
    bmcs: Gauge<'ready'>;
  };

  constructor(options: ControllerOptions) {
    this.#o = options;
    this.#log = options.logger;
    this.client = new KubeClient(options.kubeConfig, 'kubevirtbmc-controller');
    const warnLogger = this.#log ? { warn: (o: object, m: string) => this.#log?.warn(o, m) } : undefined;
    const watched = options.watchNamespaces?.length ? options.watchNamespaces : null;
    this.#bmcs = new NamespacedCache(this.client, BMC_KIND, watched, { logger: warnLogger });
    this.#vms = new NamespacedCache(this.client, VM_KIND, watched, { logger: warnLogger });
    this.#kubevirts = new Informer(this.client, {
      path: apiPath(KUBEVIRT_KIND),
      missingIsEmpty: true,
      logger: warnLogger,
    });
    this.#secrets = new NamespacedCache(this.client, KINDS.Secret, watched, {
      labelSelector: BMC_SECRET_SELECTOR,
      logger: warnLogger,
    });
    this.#namedSecrets = new NamedSecrets(this.client, warnLogger);
    this.#owned = new Map(
      OWNED_KINDS.map(({ kind: k, labelSelector }) => [
        k.kind,
        new NamespacedCache<KObject>(this.client, k, watched, {
          labelSelector,
          logger: warnLogger,
          // kube-apiserver leaves kind and apiVersion out of the items of a built-in type's list
          // (watch events carry them); the reconciler needs them to address the objects it deletes.
          transform: (o) =>
            o.kind && o.apiVersion ? o : { ...o, kind: k.kind, apiVersion: apiVersionOf(k) },
        }),
      ]),
    );
    this.#reconciler = new Reconciler({
      placement: options.placement,
      agent: options.agent,
      logger: this.#log,
    });
    // Our own writes go into the caches at once (ahead of the watch, which confirms them in its
    // order), so a quick second pass does not repeat them.
    this.#writer = new ApiWriter(this.client, (kind, ns, name, obj) => {
      const cache = this.#cacheOf(kind);
      if (obj) cache?.observe(obj);
      else cache?.forget(ns, name);
    });
    this.#queue = new WorkQueue((ns) => this.#reconcile(ns), options.workers ?? 4);
    this.#metrics = {
      reconciles: new Counter({
        name: 'kubevirtbmc_controller_reconciles_total',
        help: 'Namespace reconciles by result',
        labelNames: ['result'],
        registers: [this.registry],
      }),
      duration: new Histogram({
        name: 'kubevirtbmc_controller_reconcile_duration_seconds',
        help: 'Time to reconcile one namespace',
        buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
        registers: [this.registry],
      }),
      requests: new Counter({
        name: 'kubevirtbmc_controller_api_requests_total',
        help: 'Kubernetes API requests made by the controller',
        labelNames: ['method', 'code'],
        registers: [this.registry],
      }),
      leader: new Gauge({
        name: 'kubevirtbmc_controller_is_leader',
        help: '1 when this replica is the active leader',
        registers: [this.registry],
      }),
      bmcs: new Gauge({
        name: 'kubevirtbmc_controller_bmcs',
        help: 'VirtualMachineBMCs by Ready condition',
        labelNames: ['ready'],
        registers: [this.registry],
        collect: () => {
          const counts: Record<string, number> = { True: 0, False: 0, Unknown: 0 };
          for (const b of this.#bmcs.list()) {
            const r = b.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
            counts[r] = (counts[r] ?? 0) + 1;
          }
          for (const [k, v] of Object.entries(counts)) this.#metrics.bmcs.set({ ready: k }, v);
        },
      }),
    };
    this.client.onRequest((method, _path, status) =>
      this.#metrics.requests.inc({ method, code: String(status) }),
    );

    const le = options.leaderElection;
    this.#elector = le
      ? new LeaderElector({
          client: this.client,
          namespace: le.namespace,
          name: le.name ?? 'kubevirtbmc-controller',
          identity: le.identity ?? `${hostname()}-${randomBytes(4).toString('hex')}`,
          leaseDurationSeconds: le.leaseDurationSeconds,
          renewDeadlineMs: le.renewDeadlineMs,
          retryPeriodMs: le.retryPeriodMs,
          logger: this.#log,
          onStartedLeading: () => this.#becomeLeader(),
          onStoppedLeading: () => this.#stopLeading(),
        })
      : null;
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  get identity(): string | null {
    return this.#elector?.identity ?? null;
  }

  get synced(): boolean {
    return [this.#bmcs, this.#vms, this.#secrets, ...this.#owned.values()].every((i) => i.synced);
  }

  /** Resolves when no reconcile is queued or running. */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    if (this.#o.metricsPort !== null && this.#o.metricsPort !== undefined)
      await this.#listen(this.#o.metricsPort);
    const enqueueNs = (o: { metadata: { namespace?: string } }) => {
      if (o.metadata.namespace) this.#queue.add(o.metadata.namespace);
    };
    this.#bmcs.on((_t, o) => enqueueNs(o));
    this.#vms.on((_t, o) => {
      const ns = o.metadata.namespace ?? '';
      if (
        this.#autoCreateMatches(o) ||
        this.#bmcs.list(ns).some((b) => effectiveSpec(b.spec).vm === o.metadata.name)
      )
        enqueueNs(o);
    });
    this.#secrets.on((_t, o) => {
      this.#namedSecrets.seen(o);
      const ns = o.metadata.namespace ?? '';
      const refs = this.#bmcs.list(ns).some((b) => {
        const s = effectiveSpec(b.spec);
        return s.secret === o.metadata.name || s.tlsSecret === o.metadata.name;
      });
      if (refs) enqueueNs(o);
    });
    for (const inf of this.#owned.values()) inf.on((_t, o) => enqueueNs(o));
    // A change of KubeVirt's feature gates changes every BMC's MediaHotplugAvailable condition.
    this.#kubevirts.on(() => {
      for (const ns of new Set(this.#bmcs.list().map((b) => b.metadata.namespace ?? ''))) this.#queue.add(ns);
    });
    // Say plainly what is missing instead of only retrying (the caches keep retrying meanwhile).
    for (const [path, hint] of [
      [
        groupVersionPath(GROUP, VERSION),
        'the VirtualMachineBMC CRD is not installed: kubectl apply -k deploy/',
      ],
      [
        groupVersionPath(VM_KIND.group, VM_KIND.version),
        'KubeVirt is not installed in this cluster (no kubevirt.io/v1 API)',
      ],
    ] as const) {
      await this.client.request('GET', path).catch((err) => {
        if (isNotFound(err)) this.#log?.error({ path }, hint);
      });
    }
    const all = [this.#bmcs, this.#vms, this.#secrets, ...this.#owned.values()];
    await Promise.all(all.map((i) => i.start()));
    // Not required: without the right to read it (an older ClusterRole), hot-plug support is Unknown.
    let waited: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#kubevirts.start(),
      new Promise<void>((r) => {
        waited = setTimeout(r, KUBEVIRT_CR_WAIT_MS);
      }),
    ]);
    clearTimeout(waited);
    if (!this.#kubevirts.synced) {
      this.#log?.warn(
        { err: this.#kubevirts.lastError },
        'cannot read the KubeVirt CR (kubevirts.kubevirt.io); MediaHotplugAvailable stays Unknown until it can',
      );
    }
    this.#log?.info(
      { placement: this.#o.placement, namespaces: this.#bmcs.namespaces ?? 'all' },
      'caches synced',
    );
    if (this.#elector) this.#elector.start();
    else this.#becomeLeader();
  }

  async stop(): Promise<void> {
    this.#queue.stop();
    await this.#elector?.stop();
    await Promise.all(
      [this.#bmcs, this.#vms, this.#kubevirts, this.#secrets, ...this.#owned.values()].map((i) => i.stop()),
    );
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
    this.#server?.closeAllConnections?.();
    this.client.close();
  }

  #becomeLeader(): void {
    this.#leading = true;
    this.#metrics.leader.set(1);
    const namespaces = new Set<string>();
    for (const o of [...this.#bmcs.list(), ...[...this.#owned.values()].flatMap((i) => i.list())]) {
      if (o.metadata.namespace) namespaces.add(o.metadata.namespace);
    }
    if (this.#o.autoCreateLabel)
      for (const vm of this.#vms.list())
        if (this.#autoCreateMatches(vm)) namespaces.add(vm.metadata.namespace ?? '');
    for (const ns of namespaces) this.#queue.add(ns);
    this.#queue.start();
  }

  #stopLeading(): void {
    this.#leading = false;
    this.#metrics.leader.set(0);
    this.#queue.pause();
  }

  /** The cache of a kind the controller writes. */
  #cacheOf(kind: string): NamespacedCache<KObject> | undefined {
    if (kind === KIND) return this.#bmcs as NamespacedCache<KObject>;
    if (kind === 'Secret') return this.#secrets;
    if (kind === 'VirtualMachine') return this.#vms;
    return this.#owned.get(kind);
  }

  #state(): ClusterState {
    return {
      bmcs: (ns) => this.#bmcs.list(ns),
      vm: (ns, name) => this.#vms.get(ns, name),
      secret: (ns, name) => this.#secrets.get(ns, name) ?? this.#namedSecrets.get(ns, name),
      owned: (ns) => [...this.#owned.values()].flatMap((inf) => inf.list(ns)),
      kubevirts: () => (this.#kubevirts.synced ? this.#kubevirts.list() : null),
    };
  }

  async #reconcile(ns: string): Promise<void> {
    // a namespace outside --watch-namespaces is never reconciled (its caches do not exist)
    if (!this.#leading || !this.#bmcs.watches(ns)) return;
    const end = this.#metrics.duration.startTimer();
    try {
      if (this.#o.autoCreateLabel) await this.#autoCreate(ns);
      const cached = (n: string, name: string) => this.#secrets.get(n, name);
      const missing = await this.#namedSecrets.ensure(ns, namedSecrets(this.#bmcs.list(ns)), cached);
      // the watch sees only labelled Secrets, so it cannot say when a missing one is created
      if (missing.length > 0) this.#queue.later(ns, MISSING_SECRET_RECHECK_MS);
      const r = await this.#reconciler.reconcileNamespace(ns, this.#state(), this.#writer);
      if (r.errors.length > 0) {
        this.#metrics.reconciles.inc({ result: 'error' });
        this.#log?.warn(
          { namespace: ns, errors: r.errors.map((e) => e.message).slice(0, 3) },
          'reconcile had errors; retrying',
        );
        this.#queue.retry(ns);
      } else {
        this.#metrics.reconciles.inc({ result: 'success' });
        this.#queue.forget(ns);
        if (r.created + r.updated + r.deleted + r.statusWrites > 0) {
          this.#log?.info(
            {
              namespace: ns,
              created: r.created,
              updated: r.updated,
              deleted: r.deleted,
              statusWrites: r.statusWrites,
            },
            'reconciled',
          );
        }
      }
    } catch (err) {
      this.#metrics.reconciles.inc({ result: 'error' });
      this.#log?.warn(
        { namespace: ns, err: String((err as Error).message ?? err) },
        'reconcile failed; retrying',
      );
      this.#queue.retry(ns);
    } finally {
      end();
    }
  }

  #autoCreateMatches(vm: KObject): boolean {
    const sel = this.#o.autoCreateLabel;
    if (!sel) return false;
    const [k, v] = sel.split('=', 2) as [string, string | undefined];
    const have = vm.metadata.labels?.[k];
    return have !== undefined && (v === undefined || have === v);
  }

  /** VMs carrying the auto-create label get a VirtualMachineBMC `<vm>` and, if needed, a Secret `<vm>-bmc-auth`. */
  async #autoCreate(ns: string): Promise<void> {
    const bmcs = this.#bmcs.list(ns);
    for (const vm of this.#vms.list(ns)) {
      if (!this.#autoCreateMatches(vm) || vm.metadata.deletionTimestamp) continue;
      const name = vm.metadata.name;
      if (bmcs.some((b) => effectiveSpec(b.spec).vm === name)) continue;
      const secretName = `${name}-bmc-auth`;
      const cached = (n: string, s: string) => this.#secrets.get(n, s);
      if ((await this.#namedSecrets.ensure(ns, [secretName], cached)).length > 0) {
        await this.#writer.create({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: {
            name: secretName,
            namespace: ns,
            labels: { [LABEL_AUTO_CREATED]: 'true', [LABEL_BMC_SECRET]: 'true' },
          },
          type: 'Opaque',
          stringData: { username: 'admin', password: randomBytes(12).toString('base64url').slice(0, 16) },
        });
      }
      await this.#writer.create({
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name, namespace: ns, labels: { [LABEL_AUTO_CREATED]: 'true' } },
        spec: { virtualMachineRef: { name }, authSecretRef: { name: secretName } },
      });
      this.#log?.info({ namespace: ns, vm: name }, 'auto-created a VirtualMachineBMC');
    }
  }

  async #listen(port: number): Promise<void> {
    this.#server = http.createServer((req, res) => {
      const url = req.url ?? '/';
      if (url === '/healthz' || url === '/livez') {
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
      } else if (url === '/readyz') {
        const ok = this.synced;
        res
          .writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' })
          .end(ok ? 'ok\n' : 'caches not synced\n');
      } else if (url === '/metrics') {
        this.registry
          .metrics()
          .then((text) => res.writeHead(200, { 'Content-Type': this.registry.contentType }).end(text))
          .catch(() => res.writeHead(500).end());
      } else {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      }
    });
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('error', reject);
      this.#server!.listen(port, this.#o.metricsHost ?? '0.0.0.0', () => resolve());
    });
  }

  get metricsAddress(): { address: string; port: number } | null {
    const a = this.#server?.address();
    return a && typeof a === 'object' ? { address: a.address, port: a.port } : null;
  }
}

export { collectionPath };
