import type { Logger } from 'pino';
import { KubeClient } from '../kube/client.ts';
import type { KubeAccess } from '../kube/config.ts';
import { statusOf } from '../kube/errors.ts';
import { apiPath, KINDS } from '../kube/paths.ts';
import type { ResourceKind } from '../kube/types.ts';
import { type StoredSubscription, type SubscriptionStore, sanitizeStored } from '../redfish/events/index.ts';

/**
 * Redfish event subscriptions kept in the cluster, so they survive agent restarts: one ConfigMap
 * `<bmc-name>-redfish-subscriptions` in the BMC's namespace, owned by the VirtualMachineBMC
 * (deleted with it), holding `subscriptions.json`. The whole list is replaced on every change, with
 * the ConfigMap's resourceVersion (re-read once on a conflict).
 *
 * The controller creates the ConfigMap, empty, for every VirtualMachineBMC, and the Role it gives
 * the agent allows only `get` and `update` on it, by name: an agent cannot create ConfigMaps. The
 * store still creates a missing ConfigMap where it is allowed to (an agent run with broader rights,
 * without the controller), which then also needs `get` on the VirtualMachineBMC when no `uid` is
 * given. Subscription `HttpHeaders` are stored in the ConfigMap's data; nothing from the data is
 * ever logged.
 */
export interface KubernetesSubscriptionStoreOptions {
  kubeConfig: KubeAccess;
  /** Send requests through this client (shares its connections); default: a client of its own. */
  client?: KubeClient;
  namespace: string;
  /** The VirtualMachineBMC's name (the ConfigMap is `<name>-redfish-subscriptions`). */
  bmcName: string;
  /** The VirtualMachineBMC's uid for the owner reference; read from the API when omitted. */
  bmcUid?: string;
  logger?: Logger;
}

export const BMC_GROUP = 'bmc.kubevirt.io';
export const BMC_VERSION = 'v1beta1';
/** Where the agent reads VirtualMachineBMCs (the controller defines the kind; the agent may not import it). */
export const BMC_RESOURCE: ResourceKind = {
  group: BMC_GROUP,
  version: BMC_VERSION,
  plural: 'virtualmachinebmcs',
  kind: 'VirtualMachineBMC',
};
const DATA_KEY = 'subscriptions.json';
const FORMAT = 1;

export function subscriptionConfigMapName(bmcName: string): string {
  return `${bmcName}-redfish-subscriptions`;
}

interface ConfigMap {
  apiVersion?: string;
  kind?: string;
  metadata?: Record<string, unknown>;
  data?: Record<string, string>;
}

const codeOf = statusOf;

export class KubernetesSubscriptionStore implements SubscriptionStore {
  readonly name: string;
  readonly #o: KubernetesSubscriptionStoreOptions;
  readonly #client: KubeClient;
  #uid: string | undefined;

  constructor(options: KubernetesSubscriptionStoreOptions) {
    this.#o = options;
    this.name = subscriptionConfigMapName(options.bmcName);
    this.#client = options.client ?? new KubeClient(options.kubeConfig, 'kubevirtbmc-agent');
    this.#uid = options.bmcUid;
  }

  async load(): Promise<readonly StoredSubscription[]> {
    const cm = await this.#read();
    if (!cm) return [];
    const text = cm.data?.[DATA_KEY];
    if (!text) return [];
    try {
      const parsed = JSON.parse(text) as { subscriptions?: unknown };
      return sanitizeStored(parsed.subscriptions);
    } catch {
      this.#o.logger?.warn(
        { configMap: this.name },
        'redfish events: stored subscriptions unreadable; starting empty',
      );
      return [];
    }
  }

  async save(subscriptions: readonly StoredSubscription[]): Promise<void> {
    const data = { [DATA_KEY]: JSON.stringify({ format: FORMAT, subscriptions }) };
    for (let attempt = 0; ; attempt++) {
      const current = await this.#read();
      try {
        if (!current) {
          await this.#client.request('POST', this.#configMaps(), {
            body: {
              apiVersion: 'v1',
              kind: 'ConfigMap',
              metadata: {
                name: this.name,
                namespace: this.#o.namespace,
                labels: {
                  'app.kubernetes.io/managed-by': 'kubevirtbmc',
                  'bmc.kubevirt.io/bmc': this.#o.bmcName,
                },
                ownerReferences: [await this.#owner()],
              },
              data,
            },
          });
        } else {
          // only our key: the ConfigMap also keeps the VM's remembered MACs (mac-store.ts)
          await this.#client.request('PUT', this.#configMaps(this.name), {
            body: { ...current, data: { ...current.data, ...data } },
          });
        }
        this.#o.logger?.debug(
          { configMap: this.name, count: subscriptions.length },
          'redfish events: subscriptions stored',
        );
        return;
      } catch (err) {
        // 409: someone changed or created it since we read it; read again once.
        if (codeOf(err) === 409 && attempt === 0) continue;
        if (!current && codeOf(err) === 403)
          throw new Error(
            `could not store ConfigMap ${this.#o.namespace}/${this.name}: it does not exist and this agent may not create it (the controller creates it for each VirtualMachineBMC)`,
          );
        throw new Error(
          `could not store ConfigMap ${this.#o.namespace}/${this.name}: HTTP ${codeOf(err) ?? 'error'}`,
        );
      }
    }
  }

  #configMaps(name?: string): string {
    return apiPath(KINDS.ConfigMap, { namespace: this.#o.namespace, name });
  }

  async #read(): Promise<ConfigMap | null> {
    try {
      return await this.#client.request<ConfigMap>('GET', this.#configMaps(this.name));
    } catch (err) {
      if (codeOf(err) === 404) return null;
      throw new Error(
        `could not read ConfigMap ${this.#o.namespace}/${this.name}: HTTP ${codeOf(err) ?? 'error'}`,
      );
    }
  }

  async #owner(): Promise<{
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    blockOwnerDeletion: boolean;
  }> {
    if (!this.#uid) {
      const bmc = await this.#client.request<{ metadata?: { uid?: string } }>(
        'GET',
        apiPath(BMC_RESOURCE, { namespace: this.#o.namespace, name: this.#o.bmcName }),
      );
      this.#uid = bmc.metadata?.uid;
      if (!this.#uid) throw new Error(`VirtualMachineBMC ${this.#o.namespace}/${this.#o.bmcName} has no uid`);
    }
    return {
      apiVersion: `${BMC_GROUP}/${BMC_VERSION}`,
      kind: 'VirtualMachineBMC',
      name: this.#o.bmcName,
      uid: this.#uid,
      blockOwnerDeletion: false,
    };
  }
}
