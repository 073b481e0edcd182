/**
 * The fake node's Node object and heartbeats, as a kubelet keeps them: the Node is registered
 * Ready (capacity, allocatable, addresses InternalIP 127.0.0.1 and Hostname, nodeInfo, the kubelet
 * API's port in `daemonEndpoints`), the `node.kubernetes.io/not-ready` taint that admission puts on
 * every new Node is removed at once (the node lifecycle controller would remove it within its
 * monitor period), its Lease in `kube-node-lease` is renewed every 10 s and the Ready condition's
 * heartbeat posted every minute, so kube-controller-manager's node lifecycle controller never marks
 * it NotReady nor taints and evicts its pods. A Node deleted by someone is registered again.
 */

import { randomUUID } from 'node:crypto';
import { arch, cpus, hostname, release } from 'node:os';
import { isConflict, isNotFound, type KubeClient } from '../../../../../src/kube/client.ts';
import { type Logger, microNow, now } from './types.ts';

export interface NodeOptions {
  client: KubeClient;
  nodeName: string;
  /** Port of the kubelet API on 127.0.0.1 (`status.daemonEndpoints.kubeletEndpoint.Port`), 0 when none. */
  kubeletPort: number;
  podCIDR: string;
  capacity: Record<string, string>;
  /** Lease renewal interval (default 10 s). */
  leaseRenewMs?: number;
  /** Node status heartbeat interval (default 60 s). */
  statusReportMs?: number;
  logger?: Logger;
}

export const LEASE_NAMESPACE = 'kube-node-lease';
/** What the node lifecycle controller reads as how long the lease holds (the kubelet's default). */
const LEASE_DURATION_SECONDS = 40;
/** Taints the control plane sets while a node is not (or not yet seen) Ready. */
const NOT_READY_TAINTS = ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable'];

interface NodeObject {
  metadata: { name: string; uid?: string; resourceVersion?: string; labels?: Record<string, string> };
  spec?: { taints?: Array<{ key: string; effect: string; value?: string }>; [k: string]: unknown };
  status?: Record<string, unknown>;
}

export class FakeNodeObject {
  readonly #o: NodeOptions;
  readonly #bootID = randomUUID();
  readonly #machineID = randomUUID().replace(/-/g, '');
  #since = now();
  #uid: string | undefined;
  #leaseRv: string | undefined;
  #kubeletVersion = 'v0.0.0-fake';
  #leaseTimer: NodeJS.Timeout | undefined;
  #statusTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  #busy: Promise<void> = Promise.resolve();

  constructor(options: NodeOptions) {
    this.#o = options;
  }

  get uid(): string | undefined {
    return this.#uid;
  }

  #path(): string {
    return `/api/v1/nodes/${encodeURIComponent(this.#o.nodeName)}`;
  }

  #labels(): Record<string, string> {
    const a = arch();
    return {
      'kubernetes.io/hostname': this.#o.nodeName,
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': a === 'x64' ? 'amd64' : a,
      'beta.kubernetes.io/os': 'linux',
      'beta.kubernetes.io/arch': a === 'x64' ? 'amd64' : a,
      'node.kubevirtbmc.io/fake': 'true',
    };
  }

  #status(): Record<string, unknown> {
    const t = now();
    const cond = (type: string, status: string, reason: string, message: string) => ({
      type,
      status,
      reason,
      message,
      lastHeartbeatTime: t,
      lastTransitionTime: this.#since,
    });
    const a = arch();
    return {
      capacity: this.#o.capacity,
      allocatable: this.#o.capacity,
      conditions: [
        cond(
          'MemoryPressure',
          'False',
          'KubeletHasSufficientMemory',
          'kubelet has sufficient memory available',
        ),
        cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        cond('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
      ],
      addresses: [
        { type: 'InternalIP', address: '127.0.0.1' },
        { type: 'Hostname', address: this.#o.nodeName },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: this.#o.kubeletPort } },
      nodeInfo: {
        machineID: this.#machineID,
        systemUUID: this.#machineID,
        bootID: this.#bootID,
        kernelVersion: release(),
        osImage: `kubevirtbmc fake node on ${hostname()} (${cpus().length} CPUs)`,
        containerRuntimeVersion: 'fake://0.1.0',
        kubeletVersion: this.#kubeletVersion,
        operatingSystem: 'linux',
        architecture: a === 'x64' ? 'amd64' : a,
      },
    };
  }

  /** Creates the Node (or takes over an existing one), removes not-ready taints, starts heartbeats. */
  async register(): Promise<void> {
    try {
      const v = await this.#o.client.request<{ gitVersion?: string }>('GET', '/version');
      if (v.gitVersion) this.#kubeletVersion = v.gitVersion;
    } catch {
      // keep the placeholder
    }
    await this.#ensureNode();
    await this.#renewLease();
    this.#leaseTimer = setTimeout(() => this.#leaseLoop(), this.#o.leaseRenewMs ?? 10_000);
    this.#statusTimer = setTimeout(() => this.#statusLoop(), this.#o.statusReportMs ?? 60_000);
  }

  async #ensureNode(): Promise<void> {
    let node: NodeObject;
    try {
      node = await this.#o.client.request<NodeObject>('POST', '/api/v1/nodes', {
        body: {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: {
            name: this.#o.nodeName,
            labels: this.#labels(),
            annotations: { 'node.alpha.kubernetes.io/ttl': '0' },
          },
          spec: { podCIDR: this.#o.podCIDR, podCIDRs: [this.#o.podCIDR] },
          status: this.#status(),
        },
      });
      this.#o.logger?.info({ node: this.#o.nodeName }, 'fake node: registered');
    } catch (err) {
      if (!isConflict(err)) throw err;
      // registered before (a previous run): take it over
      await this.#o.client.request('PATCH', this.#path(), {
        body: { metadata: { labels: this.#labels() } },
        contentType: 'application/merge-patch+json',
      });
      node = await this.#o.client.request<NodeObject>('PATCH', `${this.#path()}/status`, {
        body: { status: this.#status() },
        contentType: 'application/merge-patch+json',
      });
      this.#o.logger?.info({ node: this.#o.nodeName }, 'fake node: took over the existing Node');
    }
    this.#uid = node.metadata.uid;
    await this.#removeNotReadyTaints(node);
  }

  async #removeNotReadyTaints(node: NodeObject): Promise<void> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const taints = node.spec?.taints ?? [];
      const keep = taints.filter((t) => !NOT_READY_TAINTS.includes(t.key));
      if (keep.length === taints.length) return;
      try {
        await this.#o.client.request('PATCH', this.#path(), {
          // the resourceVersion makes it fail rather than drop a taint someone added meanwhile
          body: { metadata: { resourceVersion: node.metadata.resourceVersion }, spec: { taints: keep } },
          contentType: 'application/merge-patch+json',
        });
        return;
      } catch (err) {
        if (!isConflict(err)) throw err;
        node = await this.#o.client.request<NodeObject>('GET', this.#path());
      }
    }
  }

  /**
   * Renews (or creates) the Lease. Leases cannot be updated without a resourceVersion: the last one
   * seen is used, and a conflict reads it anew.
   */
  async #renewLease(): Promise<void> {
    const collection = `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases`;
    const path = `${collection}/${encodeURIComponent(this.#o.nodeName)}`;
    const body = (resourceVersion?: string) => ({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: this.#o.nodeName,
        namespace: LEASE_NAMESPACE,
        ...(resourceVersion ? { resourceVersion } : {}),
        ...(this.#uid
          ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: this.#o.nodeName, uid: this.#uid }] }
          : {}),
      },
      spec: {
        holderIdentity: this.#o.nodeName,
        leaseDurationSeconds: LEASE_DURATION_SECONDS,
        renewTime: microNow(),
      },
    });
    type Lease = { metadata: { resourceVersion?: string } };
    for (let attempt = 0; ; attempt++) {
      try {
        if (this.#leaseRv === undefined) {
          try {
            this.#leaseRv = (await this.#o.client.request<Lease>('GET', path)).metadata.resourceVersion ?? '';
          } catch (err) {
            if (!isNotFound(err)) throw err;
            const created = await this.#o.client.request<Lease>('POST', collection, { body: body() });
            this.#leaseRv = created.metadata.resourceVersion;
            return;
          }
        }
        const updated = await this.#o.client.request<Lease>('PUT', path, { body: body(this.#leaseRv) });
        this.#leaseRv = updated.metadata.resourceVersion;
        return;
      } catch (err) {
        this.#leaseRv = undefined;
        if (attempt >= 2 || !(isConflict(err) || isNotFound(err))) throw err;
      }
    }
  }

  /** Serialises heartbeats (a slow lease renewal and a status post never interleave with re-registration). */
  #serial(fn: () => Promise<void>): Promise<void> {
    const next = this.#busy.then(fn, fn);
    this.#busy = next.catch(() => {});
    return next;
  }

  #leaseLoop(): void {
    if (this.#stopped) return;
    void this.#serial(() => this.#renewLease()).then(
      () => {
        if (!this.#stopped)
          this.#leaseTimer = setTimeout(() => this.#leaseLoop(), this.#o.leaseRenewMs ?? 10_000);
      },
      (err) => {
        if (this.#stopped) return;
        this.#o.logger?.warn({ node: this.#o.nodeName, err: String(err) }, 'fake node: lease renewal failed');
        this.#leaseTimer = setTimeout(() => this.#leaseLoop(), 1000);
      },
    );
  }

  #statusLoop(): void {
    if (this.#stopped) return;
    void this.#serial(async () => {
      try {
        await this.#o.client.request('PATCH', `${this.#path()}/status`, {
          body: { status: this.#status() },
          contentType: 'application/merge-patch+json',
        });
      } catch (err) {
        if (!isNotFound(err)) throw err;
        this.#o.logger?.warn(
          { node: this.#o.nodeName },
          'fake node: the Node was deleted; registering again',
        );
        this.#since = now();
        await this.#ensureNode();
      }
    }).then(
      () => {
        if (!this.#stopped)
          this.#statusTimer = setTimeout(() => this.#statusLoop(), this.#o.statusReportMs ?? 60_000);
      },
      (err) => {
        if (this.#stopped) return;
        this.#o.logger?.warn(
          { node: this.#o.nodeName, err: String(err) },
          'fake node: status heartbeat failed',
        );
        this.#statusTimer = setTimeout(() => this.#statusLoop(), 1000);
      },
    );
  }

  /** Stops heartbeats; the Node stays (the control plane will see it go NotReady, as with a dead kubelet). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#leaseTimer) clearTimeout(this.#leaseTimer);
    if (this.#statusTimer) clearTimeout(this.#statusTimer);
    await this.#busy;
  }
}
