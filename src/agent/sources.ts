/**
 * Where an agent learns which BMCs to serve: every VirtualMachineBMC of a namespace placed on the
 * shared agent (watched; ports from each BMC's status, allocated by the controller).
 */
import type { Logger } from 'pino';
import type { BmcDefinition } from './host.ts';
import type { KubeClient } from './kube/client.ts';
import { Informer } from './kube/informer.ts';

interface BmcObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    deletionTimestamp?: string;
  };
  spec?: {
    virtualMachineRef?: { name?: string };
    authSecretRef?: { name?: string };
    ipmi?: { enabled?: boolean };
    redfish?: { enabled?: boolean; tlsSecretRef?: { name?: string } };
  };
  status?: { placement?: string; ports?: { ipmi?: number; redfish?: number } };
  [k: string]: unknown;
}

/** The definition of a BMC placed on the shared agent, or null when it is not (yet) ours to serve. */
export function definitionFromBmc(b: BmcObject): BmcDefinition | null {
  const ns = b.metadata.namespace ?? 'default';
  const vm = b.spec?.virtualMachineRef?.name;
  const secret = b.spec?.authSecretRef?.name;
  if (!vm || !secret || b.metadata.deletionTimestamp) return null;
  if (b.status?.placement !== 'shared' || !b.status.ports) return null;
  const ipmiOn = b.spec?.ipmi?.enabled !== false;
  const redfishOn = b.spec?.redfish?.enabled !== false;
  const tlsName = b.spec?.redfish?.tlsSecretRef?.name;
  return {
    key: `${ns}/${b.metadata.name}`,
    namespace: ns,
    vm,
    eventTarget: {
      apiVersion: 'bmc.kubevirt.io/v1beta1',
      kind: 'VirtualMachineBMC',
      name: b.metadata.name,
      uid: b.metadata.uid,
    },
    credentials: { kind: 'secret', name: secret },
    tls: tlsName && redfishOn ? { kind: 'secret', name: tlsName } : null,
    ipmiPort: ipmiOn ? (b.status.ports.ipmi ?? 0) : 0,
    redfishPort: redfishOn ? (b.status.ports.redfish ?? 0) : 0,
  };
}

export class NamespaceSource {
  readonly #informer: Informer<BmcObject>;
  readonly #onChange: (defs: BmcDefinition[]) => void;
  #timer: NodeJS.Timeout | null = null;

  constructor(
    client: KubeClient,
    namespace: string,
    onChange: (defs: BmcDefinition[]) => void,
    logger?: Logger,
  ) {
    this.#onChange = onChange;
    this.#informer = new Informer(client, {
      path: `/apis/bmc.kubevirt.io/v1beta1/namespaces/${namespace}/virtualmachinebmcs`,
      logger,
    });
    this.#informer.on(() => this.#schedule());
  }

  definitions(): BmcDefinition[] {
    return this.#informer
      .list()
      .map(definitionFromBmc)
      .filter((d): d is BmcDefinition => d !== null)
      .sort((a, b) => a.key.localeCompare(b.key));
  }

  /** Changes often come in bursts (the controller writes many statuses): apply them together. */
  #schedule(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#onChange(this.definitions());
    }, 50);
  }

  async start(): Promise<void> {
    await this.#informer.start();
    this.#onChange(this.definitions());
  }

  async stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    await this.#informer.stop();
  }
}
