/**
 * The parts of the agent that come from other modules: the IPMI and Redfish servers and the
 * KubeVirt machine backend. Kept in one file so the rest of the agent is testable with doubles.
 */
import type { Logger } from 'pino';
import { IpmiServer } from '../ipmi/server.ts';
import type { KubeClient } from '../kube/client.ts';
import type { KubeAccess } from '../kube/config.ts';
import { KubeVirtBackend } from '../kubevirt/index.ts';
import type { LoginLimits } from '../machine/login-limits.ts';
import type { Machine } from '../machine/machine.ts';
import type { DestinationPolicyOptions, SubscriptionStore } from '../redfish/events/index.ts';
import { RedfishServer } from '../redfish/server.ts';
import type { TlsSettings } from '../redfish/tls.ts';
import type { BmcDefinition, BmcRef, MachineProvider, ProtocolServers } from './host.ts';
import { ConfigMapMacStore } from './mac-store.ts';
import { KubernetesSubscriptionStore } from './subscription-store.ts';

export { LOGIN_LIMIT_DEFAULTS as REDFISH_LOGIN_DEFAULTS } from '../machine/login-limits.ts';

export interface Wiring {
  servers: ProtocolServers;
  machines: MachineProvider | null;
}

/**
 * How the agent watches KubeVirt. `vm`: one backend per VM, each watching only its VM (field
 * selector), so a Role whose rules name that VM suffices (per-vm placement, standalone `--vm`).
 * `namespace`: one backend per namespace, shared by every BMC there: one watch per kind (VMs,
 * VMIs, media DataVolumes) however many VMs are served, which is what lets one agent serve a
 * thousand BMCs in little memory (shared placement, `--namespace`); its Role lets it read the
 * namespace's VMs and VMIs, while every write stays limited to the VMs it serves.
 */
export type WatchScope = 'vm' | 'namespace';

interface BackendEntry {
  backend: KubeVirtBackend;
  /** Users per VM name (a VM may have more than one BMC). */
  vms: Map<string, number>;
  ready: Promise<void>;
}

export class KubeVirtMachines implements MachineProvider {
  readonly #kc: KubeAccess;
  readonly #client: KubeClient | undefined;
  readonly #logger: Logger | undefined;
  readonly #scope: WatchScope;
  readonly #backends = new Map<string, BackendEntry>();
  /** Per BMC key: stops keeping its VM's last MACs in its ConfigMap. */
  readonly #macStores = new Map<string, () => void>();

  constructor(kc: KubeAccess, options: { client?: KubeClient; logger?: Logger; scope?: WatchScope } = {}) {
    this.#kc = kc;
    this.#client = options.client;
    this.#logger = options.logger;
    this.#scope = options.scope ?? 'vm';
  }

  /** Backends running (one per VM, or one per namespace). */
  get backendCount(): number {
    return this.#backends.size;
  }

  #key(namespace: string, vm: string): string {
    return this.#scope === 'namespace' ? namespace : `${namespace}/${vm}`;
  }

  acquire(namespace: string, vm: string, bmc?: BmcRef): Promise<Machine> {
    const key = this.#key(namespace, vm);
    let e = this.#backends.get(key);
    if (!e) {
      const backend = new KubeVirtBackend({
        kubeConfig: this.#kc,
        namespace,
        ...(this.#scope === 'vm' ? { vmName: vm } : {}),
        ...(this.#client ? { client: this.#client } : {}),
        ...(this.#logger
          ? { logger: this.#logger.child(this.#scope === 'vm' ? { vm: key } : { namespace }) }
          : {}),
      });
      const entry: BackendEntry = { backend, vms: new Map(), ready: backend.start() };
      e = entry;
      this.#backends.set(key, entry);
      // A backend that could not sync is dropped (its watches stopped); the host retries later.
      entry.ready.catch(() => {
        if (this.#backends.get(key) === entry) this.#backends.delete(key);
        void backend.stop();
      });
    }
    e.vms.set(vm, (e.vms.get(vm) ?? 0) + 1);
    const entry = e;
    return entry.ready.then(() => {
      this.#rememberMacs(entry.backend, vm, bmc);
      entry.backend.setMediaSettings(vm, bmc?.media);
      entry.backend.setHotplugSupport(vm, bmc?.hotplug);
      return entry.backend.machine(vm);
    });
  }

  /**
   * A BMC backed by a VirtualMachineBMC keeps its VM's last MACs in its ConfigMap, so they are still
   * reported while the VM is off after this agent restarted (a standalone BMC keeps them in memory).
   */
  #rememberMacs(backend: KubeVirtBackend, vm: string, bmc: BmcRef | undefined): void {
    if (bmc?.eventTarget.kind !== 'VirtualMachineBMC' || this.#macStores.has(bmc.key)) return;
    const store = new ConfigMapMacStore({
      kubeConfig: this.#kc,
      ...(this.#client ? { client: this.#client } : {}),
      namespace: bmc.namespace,
      bmcName: bmc.eventTarget.name,
      ...(this.#logger ? { logger: this.#logger.child({ bmc: bmc.key }) } : {}),
    });
    this.#macStores.set(bmc.key, backend.rememberMacsIn(vm, store));
  }

  /** A served BMC's hot-plug support changed (the controller re-read the KubeVirt CR). */
  update(namespace: string, vm: string, bmc: BmcRef): void {
    const entry = this.#backends.get(this.#key(namespace, vm));
    if (entry?.vms.has(vm))
      void entry.ready.then(
        () => entry.backend.setHotplugSupport(vm, bmc.hotplug),
        () => {},
      );
  }

  async release(namespace: string, vm: string, bmc?: BmcRef): Promise<void> {
    if (bmc) {
      this.#macStores.get(bmc.key)?.();
      this.#macStores.delete(bmc.key);
    }
    const key = this.#key(namespace, vm);
    const e = this.#backends.get(key);
    const users = e?.vms.get(vm);
    if (!e || users === undefined) return;
    if (users > 1) {
      e.vms.set(vm, users - 1);
      return;
    }
    e.vms.delete(vm);
    if (e.vms.size > 0) {
      e.backend.forget(vm);
      return;
    }
    this.#backends.delete(key);
    await e.backend.stop();
  }
}

export interface WiringOptions {
  /** The client every watch and request of the agent goes through (one connection over HTTP/2). */
  client?: KubeClient;
  logger?: Logger;
  scope?: WatchScope;
  /** Redfish failed-login budgets (agent flags); each BMC's service keeps its own. */
  redfishLoginLimits?: LoginLimits;
  /** Redfish HTTPS versions and suites (agent flags `--tls-profile` etc.; default intermediate). */
  tlsSettings?: TlsSettings;
  /** Event destination rules (agent flags `--event-destination-allow`/`-deny`). */
  eventDestinations?: Pick<DestinationPolicyOptions, 'allow' | 'deny'>;
}

/**
 * The Kubernetes API server's addresses, which events are never delivered to by default: the
 * in-cluster Service (`$KUBERNETES_SERVICE_HOST`, every port) and the kubeconfig's server.
 */
function kubernetesApiAddresses(kc: KubeAccess | null): string[] {
  const out: string[] = [];
  if (process.env.KUBERNETES_SERVICE_HOST) out.push(process.env.KUBERNETES_SERVICE_HOST);
  const server = kc?.getCurrentCluster()?.server;
  if (server) {
    try {
      const u = new URL(server);
      out.push(`${u.hostname}:${u.port || (u.protocol === 'http:' ? '80' : '443')}`);
    } catch {
      // not a URL: the client refuses it anyway
    }
  }
  return out;
}

export function defaultWiring(kc: KubeAccess | null, options: WiringOptions = {}): Wiring {
  const { client, logger } = options;
  const destinations: DestinationPolicyOptions = {
    ...options.eventDestinations,
    kubernetesApi: kubernetesApiAddresses(kc),
  };
  // One subscription store per BMC for the life of the process, so a Redfish restart (a rotated
  // TLS certificate) keeps the same store. Only a BMC backed by a VirtualMachineBMC has a place
  // in the cluster to keep them; a standalone agent keeps them in memory.
  const stores = new Map<string, SubscriptionStore>();
  const storeFor = (bmc: { key: string; namespace: string; eventTarget: BmcDefinition['eventTarget'] }) => {
    if (!kc || bmc.eventTarget.kind !== 'VirtualMachineBMC') return undefined;
    let store = stores.get(bmc.key);
    if (!store) {
      store = new KubernetesSubscriptionStore({
        kubeConfig: kc,
        ...(client ? { client } : {}),
        namespace: bmc.namespace,
        bmcName: bmc.eventTarget.name,
        ...(bmc.eventTarget.uid ? { bmcUid: bmc.eventTarget.uid } : {}),
        ...(logger ? { logger: logger.child({ bmc: bmc.key }) } : {}),
      });
      stores.set(bmc.key, store);
    }
    return store;
  };
  return {
    servers: {
      ipmi: (o) =>
        new IpmiServer({
          machine: o.machine,
          accounts: o.accounts,
          ...(o.logger ? { logger: o.logger } : {}),
          ...(o.clientPort ? { sol: { advertisedPort: o.clientPort } } : {}),
          ...(o.onLoginFailure ? { onLoginFailure: o.onLoginFailure } : {}),
          ...(o.resetBmc ? { resetBmc: o.resetBmc } : {}),
        }),
      redfish: (o) => {
        const subscriptionStore = storeFor(o.bmc);
        return new RedfishServer({
          systems: { kind: 'single', machine: o.machine, ...(o.resetBmc ? { resetBmc: o.resetBmc } : {}) },
          accounts: o.accounts,
          ...(subscriptionStore ? { subscriptionStore } : {}),
          ...(o.logger ? { logger: o.logger } : {}),
          ...(o.tls ? { tls: o.tls } : {}),
          ...(options.tlsSettings ? { tlsSettings: options.tlsSettings } : {}),
          events: { destinations },
          ...(options.redfishLoginLimits ? { loginLimits: options.redfishLoginLimits } : {}),
          ...(o.onLoginFailure ? { onLoginFailure: o.onLoginFailure } : {}),
        });
      },
    },
    machines: kc
      ? new KubeVirtMachines(kc, {
          ...(client ? { client } : {}),
          ...(logger ? { logger } : {}),
          ...(options.scope ? { scope: options.scope } : {}),
        })
      : null,
  };
}
