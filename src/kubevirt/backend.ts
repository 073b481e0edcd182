import type { Logger } from 'pino';
import type { KubeClient } from '../kube/client.ts';
import type { KubeAccess } from '../kube/config.ts';
import type { Machine } from '../machine/index.ts';
import type { HotplugSupport } from './hotplug.ts';
import { type InformerEvent, SharedInformer } from './informer.ts';
import { KubeApi } from './kube-api.ts';
import type { MacStore } from './mac-memory.ts';
import { KubeVirtMachine, type MachineContext } from './machine.ts';
import type { MediaSettings } from './media-storage.ts';
import {
  type DataVolume,
  DV_KIND,
  type KubeObject,
  LABEL_VM,
  type VirtualMachine,
  type VirtualMachineInstance,
  VM_KIND,
  VMI_KIND,
} from './types.ts';

export interface KubeVirtBackendOptions {
  /** Where the API is and how to authenticate (`src/kube/config.ts`; client-node's KubeConfig fits too). */
  kubeConfig: KubeAccess;
  /** Send requests through this client (shares its connections); default: a client of its own. */
  client?: KubeClient;
  /** Called before every API request leaves (diagnostics, tests). */
  beforeRequest?: (method: string, path: string) => Promise<void> | void;
  /** Watch scope. */
  namespace: string;
  /**
   * When set, watch only this VM (fieldSelector metadata.name=<vm>) and its media DataVolumes
   * (labelSelector bmc.kubevirt.io/vm=<vm>), so a Role limited by resourceNames suffices.
   */
  vmName?: string;
  logger?: Logger;
  /** How long `start()` waits for the first list of each kind (default 30 s). */
  syncTimeoutMs?: number;
  /** Reconnect backoff of the watch caches (defaults 200 ms doubling up to 30 s). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Per-request timeout for non-watch requests (default 30 s). */
  requestTimeoutMs?: number;
}

/**
 * KubeVirt VMs as Machines. One watch cache per kind (VirtualMachine, VirtualMachineInstance,
 * DataVolume) serves every machine of the backend; reads never make API requests.
 */
export class KubeVirtBackend {
  readonly #o: KubeVirtBackendOptions;
  readonly #api: KubeApi;
  readonly #vms: SharedInformer<VirtualMachine>;
  readonly #vmis: SharedInformer<VirtualMachineInstance>;
  readonly #dvs: SharedInformer<DataVolume>;
  readonly #machines = new Map<string, KubeVirtMachine>();
  readonly #context: MachineContext;
  #starting: Promise<void> | null = null;
  #stopped = false;
  #synced = false;

  constructor(options: KubeVirtBackendOptions) {
    this.#o = options;
    this.#api = new KubeApi(options.kubeConfig, {
      timeoutMs: options.requestTimeoutMs ?? 30_000,
      ...(options.client ? { client: options.client } : {}),
      ...(options.beforeRequest ? { beforeRequest: options.beforeRequest } : {}),
    });
    const common = {
      api: this.#api,
      namespace: options.namespace,
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.initialBackoffMs !== undefined ? { initialBackoffMs: options.initialBackoffMs } : {}),
      ...(options.maxBackoffMs !== undefined ? { maxBackoffMs: options.maxBackoffMs } : {}),
    };
    const byName = options.vmName ? { fieldSelector: `metadata.name=${options.vmName}` } : {};
    this.#vms = new SharedInformer<VirtualMachine>({ ...common, kind: VM_KIND, ...byName });
    this.#vmis = new SharedInformer<VirtualMachineInstance>({ ...common, kind: VMI_KIND, ...byName });
    this.#dvs = new SharedInformer<DataVolume>({
      ...common,
      kind: DV_KIND,
      labelSelector: options.vmName ? `${LABEL_VM}=${options.vmName}` : LABEL_VM,
    });
    this.#context = {
      api: this.#api,
      namespace: options.namespace,
      vms: this.#vms,
      vmis: this.#vmis,
      dvs: this.#dvs,
      ...(options.logger ? { logger: options.logger } : {}),
      synced: () => this.#synced,
      features: { resetSupported: true, softRebootSupported: true },
    };
    const route = (nameOf: (o: KubeObject) => string | undefined) => (event: InformerEvent<KubeObject>) => {
      const name = nameOf(event.object);
      if (name) this.#machines.get(name)?.refresh();
    };
    this.#vms.on(route((o) => o.metadata?.name));
    this.#vmis.on(route((o) => o.metadata?.name));
    this.#dvs.on(route((o) => o.metadata?.labels?.[LABEL_VM]));
  }

  /** Starts the watch caches; resolves once each kind has been listed (bounded wait). */
  start(): Promise<void> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    for (const informer of [this.#vms, this.#vmis, this.#dvs]) informer.start();
    const timeout = this.#o.syncTimeoutMs ?? 30_000;
    try {
      await Promise.all([this.#vms, this.#vmis, this.#dvs].map((i) => i.waitForSync(timeout)));
    } catch (err) {
      // The caches keep trying: should they sync later, the machines start answering then.
      void Promise.all([this.#vms, this.#vmis, this.#dvs].map((i) => i.whenSynced())).then(() =>
        this.#markSynced(),
      );
      throw new Error(
        `The KubeVirt backend could not read the cluster (namespace ${this.#o.namespace}): ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    this.#markSynced();
  }

  #markSynced(): void {
    if (this.#synced || this.#stopped) return;
    this.#synced = true;
    for (const m of this.#machines.values()) m.refresh();
    this.#o.logger?.info(
      {
        namespace: this.#o.namespace,
        vm: this.#o.vmName,
        vms: this.#vms.list().length,
        cdi: this.#dvs.available,
      },
      'KubeVirt caches synced',
    );
  }

  /** The machine for a VM; the same object for the same name, usable before the VM exists. */
  machine(name: string): Machine {
    let m = this.#machines.get(name);
    if (!m) {
      m = new KubeVirtMachine(this.#context, name);
      this.#machines.set(name, m);
      m.refresh();
    }
    return m;
  }

  /**
   * Keeps the MACs of `name`'s last start in `store` too (see `KubeVirtMachine.rememberMacsIn`).
   * Returns the detach function.
   */
  rememberMacsIn(name: string, store: MacStore): () => void {
    this.machine(name);
    return this.#machines.get(name)!.rememberMacsIn(store);
  }

  /** The BMC's virtual-media settings for `name`'s machine (`KubeVirtMachine.setMediaSettings`). */
  setMediaSettings(name: string, settings: MediaSettings | undefined): void {
    this.machine(name);
    this.#machines.get(name)!.setMediaSettings(settings);
  }

  /** What the controller found about KubeVirt's hot-plug, for `name`'s machine (`KubeVirtMachine.setHotplugSupport`). */
  setHotplugSupport(name: string, support: HotplugSupport | undefined): void {
    this.machine(name);
    this.#machines.get(name)!.setHotplugSupport(support);
  }

  /** Drops the machine of a VM no longer served (its cache entries stay; a later `machine()` makes a new one). */
  forget(name: string): void {
    const m = this.#machines.get(name);
    if (!m) return;
    this.#machines.delete(name);
    m.dispose();
  }

  /** Names of the VMs currently in the cache. */
  vmNames(): string[] {
    return this.#vms
      .list()
      .map((vm) => vm.metadata?.name ?? '')
      .filter((n) => n.length > 0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const m of this.#machines.values()) m.dispose();
    await Promise.all([this.#vms.stop(), this.#vmis.stop(), this.#dvs.stop()]);
  }

  /**
   * True when every cache has synced and has a watch open: the backend is following the cluster
   * live (for a readiness probe). While false, reads still answer from the last known state.
   */
  get connected(): boolean {
    return this.#synced && [this.#vms, this.#vmis, this.#dvs].every((i) => i.watching || !i.available);
  }

  /** API requests this backend made (lists, watches, writes, console connections). */
  get apiRequestCount(): number {
    return this.#api.requestCount;
  }

  /** Watch-cache counters per kind, for diagnostics. */
  get cacheStats(): Record<string, { lists: number; watches: number; failures: number; expired: number }> {
    return {
      virtualmachines: this.#vms.stats,
      virtualmachineinstances: this.#vmis.stats,
      datavolumes: this.#dvs.stats,
    };
  }
}
