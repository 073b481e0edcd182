/**
 * The parts of the agent that come from other modules: the IPMI and Redfish servers and the
 * KubeVirt machine backend. Kept in one file so the rest of the agent is testable with doubles.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { IpmiServer } from '../ipmi/server.ts';
import { KubeVirtBackend } from '../kubevirt/index.ts';
import type { Machine } from '../machine/machine.ts';
import type { SubscriptionStore } from '../redfish/events/index.ts';
import { RedfishServer } from '../redfish/server.ts';
import type { BmcDefinition, MachineProvider, ProtocolServers } from './host.ts';
import { KubernetesSubscriptionStore } from './subscription-store.ts';

export interface Wiring {
  servers: ProtocolServers;
  machines: MachineProvider | null;
  /** What this build cannot serve yet, for logs. */
  missing: string[];
}

/**
 * One KubeVirt backend per VM, each watching only its VM (field selector), so a Role whose rules
 * name that VM suffices. Shared between the BMCs of one VM and stopped with the last of them.
 */
export class KubeVirtMachines implements MachineProvider {
  readonly #kc: KubeConfig;
  readonly #logger: Logger | undefined;
  readonly #backends = new Map<string, { backend: KubeVirtBackend; refs: number; ready: Promise<Machine> }>();

  constructor(kc: KubeConfig, logger?: Logger) {
    this.#kc = kc;
    this.#logger = logger;
  }

  acquire(namespace: string, vm: string): Promise<Machine> {
    const key = `${namespace}/${vm}`;
    let e = this.#backends.get(key);
    if (!e) {
      const backend = new KubeVirtBackend({
        kubeConfig: this.#kc,
        namespace,
        vmName: vm,
        ...(this.#logger ? { logger: this.#logger.child({ vm: key }) } : {}),
      });
      const ready = backend.start().then(() => backend.machine(vm));
      e = { backend, refs: 0, ready };
      this.#backends.set(key, e);
      ready.catch(() => {
        if (this.#backends.get(key) === e) this.#backends.delete(key);
      });
    }
    e.refs++;
    return e.ready;
  }

  async release(namespace: string, vm: string): Promise<void> {
    const key = `${namespace}/${vm}`;
    const e = this.#backends.get(key);
    if (!e) return;
    if (--e.refs > 0) return;
    this.#backends.delete(key);
    await e.backend.stop();
  }
}

export function defaultWiring(kc: KubeConfig | null, logger?: Logger): Wiring {
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
        }),
      redfish: (o) => {
        const subscriptionStore = storeFor(o.bmc);
        return new RedfishServer({
          systems: { kind: 'single', machine: o.machine },
          accounts: o.accounts,
          ...(subscriptionStore ? { subscriptionStore } : {}),
          ...(o.logger ? { logger: o.logger } : {}),
          ...(o.tls ? { tls: o.tls } : {}),
        });
      },
    },
    machines: kc ? new KubeVirtMachines(kc, logger) : null,
    missing: [],
  };
}
