/**
 * Where an agent learns which BMCs to serve: every VirtualMachineBMC of a namespace placed on the
 * shared agent (watched; ports from each BMC's status, allocated by the controller).
 */
import type { Logger } from 'pino';
import type { KubeClient } from '../kube/client.ts';
import { Informer } from '../kube/informer.ts';
import { apiPath } from '../kube/paths.ts';
import type { NamedObject } from '../kube/types.ts';
import { type HotplugSupport, hotplugFromConditions } from '../kubevirt/hotplug.ts';
import { type MediaSettings, parseMediaSettings } from '../kubevirt/media-storage.ts';
import type { BmcDefinition } from './host.ts';
import { BMC_RESOURCE } from './subscription-store.ts';

type BmcCondition = { type?: string; status?: string; reason?: string; message?: string };

interface BmcObject extends NamedObject {
  spec?: {
    virtualMachineRef?: { name?: string };
    authSecretRef?: { name?: string };
    ipmi?: { enabled?: boolean };
    redfish?: { enabled?: boolean; tlsSecretRef?: { name?: string }; virtualMedia?: unknown };
  };
  status?: {
    placement?: string;
    ports?: { ipmi?: number; redfish?: number };
    endpoints?: { ipmi?: string; redfish?: string };
    conditions?: BmcCondition[];
  };
}

/**
 * The definition of a BMC placed on the shared agent, or null when it is not (yet) ours to serve.
 * With `ports` given (standalone, no controller), those are used instead of the status.
 */
export function definitionFromBmc(
  b: BmcObject,
  ports?: { ipmi: number; redfish: number },
): BmcDefinition | null {
  const ns = b.metadata.namespace ?? 'default';
  const vm = b.spec?.virtualMachineRef?.name;
  const secret = b.spec?.authSecretRef?.name;
  if (!vm || !secret || b.metadata.deletionTimestamp) return null;
  const assigned = ports ?? (b.status?.placement === 'shared' ? b.status.ports : undefined);
  if (!assigned) return null;
  const ipmiOn = b.spec?.ipmi?.enabled !== false;
  const redfishOn = b.spec?.redfish?.enabled !== false;
  const tlsName = b.spec?.redfish?.tlsSecretRef?.name;
  // Clients use the endpoint the controller reports (the Service's port); SOL must name it.
  const clientPort = Number(/:(\d+)$/.exec(b.status?.endpoints?.ipmi ?? '')?.[1] ?? 0);
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
    ipmiPort: ipmiOn ? (assigned.ipmi ?? 0) : 0,
    ...(ipmiOn && !ports && clientPort > 0 ? { ipmiClientPort: clientPort } : {}),
    redfishPort: redfishOn ? (assigned.redfish ?? 0) : 0,
    ...mediaOf(b),
  };
}

/**
 * `{ media }` from the BMC's `spec.redfish.virtualMedia` (and upstream KubeVirtBMC's older
 * `spec.storageClassName`), and `{ hotplug }` from its MediaHotplugAvailable condition (what the
 * controller found in the KubeVirt CR); each left out when unknown.
 */
export function mediaOf(b: {
  spec?: { redfish?: { virtualMedia?: unknown }; storageClassName?: unknown };
  status?: { conditions?: BmcCondition[] };
}): {
  media?: MediaSettings;
  hotplug?: HotplugSupport;
} {
  const media = parseMediaSettings(b.spec?.redfish?.virtualMedia, b.spec?.storageClassName);
  const hotplug = hotplugFromConditions(b.status?.conditions);
  return { ...(media ? { media } : {}), ...(hotplug ? { hotplug } : {}) };
}

export interface NamespaceSourceOptions {
  /**
   * Standalone (no controller): serve every BMC of the namespace, the i-th on base+i. Each BMC
   * keeps its offset while it exists; a new one takes the lowest free offset.
   */
  basePorts?: { ipmi: number; redfish: number };
  logger?: Logger;
}

export class NamespaceSource {
  readonly #informer: Informer<BmcObject>;
  readonly #onChange: (defs: BmcDefinition[]) => void;
  readonly #base: { ipmi: number; redfish: number } | undefined;
  readonly #offsets = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;

  constructor(
    client: KubeClient,
    namespace: string,
    onChange: (defs: BmcDefinition[]) => void,
    options: NamespaceSourceOptions = {},
  ) {
    this.#base = options.basePorts;
    this.#onChange = onChange;
    this.#informer = new Informer(client, {
      path: apiPath(BMC_RESOURCE, { namespace }),
      ...(options.logger ? { logger: options.logger } : {}),
    });
    this.#informer.on(() => this.#schedule());
  }

  definitions(): BmcDefinition[] {
    const items = this.#informer
      .list()
      .slice()
      // By code unit, not localeCompare: the same order on every machine, and the agent never touches
      // ICU's collation data (about 3 MiB of resident memory).
      .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
    const base = this.#base;
    if (!base) {
      return items.map((b) => definitionFromBmc(b)).filter((d): d is BmcDefinition => d !== null);
    }
    const names = new Set(items.map((b) => b.metadata.name));
    for (const n of [...this.#offsets.keys()]) if (!names.has(n)) this.#offsets.delete(n);
    const used = new Set(this.#offsets.values());
    const out: BmcDefinition[] = [];
    for (const b of items) {
      let off = this.#offsets.get(b.metadata.name);
      if (off === undefined) {
        off = 0;
        while (used.has(off)) off++;
        used.add(off);
        this.#offsets.set(b.metadata.name, off);
      }
      const d = definitionFromBmc(b, {
        ipmi: base.ipmi > 0 ? base.ipmi + off : 0,
        redfish: base.redfish > 0 ? base.redfish + off : 0,
      });
      if (d) out.push(d);
    }
    return out;
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
