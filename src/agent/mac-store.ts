import type { Logger } from 'pino';
import { KubeClient } from '../kube/client.ts';
import type { KubeAccess } from '../kube/config.ts';
import { statusOf } from '../kube/errors.ts';
import { apiPath, KINDS } from '../kube/paths.ts';
import {
  type MacStore,
  parseRememberedMacs,
  type RememberedMacs,
  serialiseRememberedMacs,
} from '../kubevirt/index.ts';
import { subscriptionConfigMapName } from './subscription-store.ts';

/**
 * The MACs a BMC's VM had at its last start (`src/kubevirt/mac-memory.ts`), kept in the ConfigMap
 * the agent already keeps for that BMC (`<bmc-name>-redfish-subscriptions`, created by the
 * controller, owned by the VirtualMachineBMC, so deleted with it) under its own key
 * `last-macs.json`. Every other key of the ConfigMap is left as it is; the write is an update
 * carrying the resourceVersion read (read again once on a conflict). The agent's Role allows `get`
 * and `update` on that ConfigMap by name, which is all this needs. Nothing of the data is logged.
 */
export const MACS_DATA_KEY = 'last-macs.json';

export interface ConfigMapMacStoreOptions {
  kubeConfig: KubeAccess;
  /** Send requests through this client (shares its connections); default: a client of its own. */
  client?: KubeClient;
  namespace: string;
  /** The VirtualMachineBMC's name. */
  bmcName: string;
  logger?: Logger;
}

interface ConfigMap {
  metadata?: Record<string, unknown>;
  data?: Record<string, string>;
  [key: string]: unknown;
}

export class ConfigMapMacStore implements MacStore {
  readonly name: string;
  readonly #o: ConfigMapMacStoreOptions;
  readonly #client: KubeClient;
  readonly #configMap: string;

  constructor(options: ConfigMapMacStoreOptions) {
    this.#o = options;
    this.#configMap = subscriptionConfigMapName(options.bmcName);
    this.name = `ConfigMap ${options.namespace}/${this.#configMap} (${MACS_DATA_KEY})`;
    this.#client = options.client ?? new KubeClient(options.kubeConfig, 'kubevirtbmc-agent');
  }

  async load(): Promise<RememberedMacs | null> {
    const cm = await this.#read();
    const text = cm?.data?.[MACS_DATA_KEY];
    if (!text) return null;
    const parsed = parseRememberedMacs(text);
    if (!parsed)
      this.#o.logger?.warn(
        { configMap: this.#configMap },
        'remembered MACs unreadable; ignored (rewritten at the next start of the VM)',
      );
    return parsed;
  }

  async save(macs: RememberedMacs): Promise<void> {
    const value = serialiseRememberedMacs(macs);
    for (let attempt = 0; ; attempt++) {
      const current = await this.#read();
      if (!current)
        throw new Error(
          `ConfigMap ${this.#o.namespace}/${this.#configMap} does not exist (the controller creates it for each VirtualMachineBMC)`,
        );
      if (current.data?.[MACS_DATA_KEY] === value) return;
      try {
        await this.#client.request('PUT', this.#path(this.#configMap), {
          body: { ...current, data: { ...current.data, [MACS_DATA_KEY]: value } },
        });
        this.#o.logger?.debug({ configMap: this.#configMap }, 'remembered MACs stored');
        return;
      } catch (err) {
        if (statusOf(err) === 409 && attempt === 0) continue;
        throw new Error(
          `could not store ConfigMap ${this.#o.namespace}/${this.#configMap}: HTTP ${statusOf(err) ?? 'error'}`,
        );
      }
    }
  }

  #path(name?: string): string {
    return apiPath(KINDS.ConfigMap, { namespace: this.#o.namespace, name });
  }

  async #read(): Promise<ConfigMap | null> {
    try {
      return await this.#client.request<ConfigMap>('GET', this.#path(this.#configMap));
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw new Error(
        `could not read ConfigMap ${this.#o.namespace}/${this.#configMap}: HTTP ${statusOf(err) ?? 'error'}`,
      );
    }
  }
}
