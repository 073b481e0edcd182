import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1ConfigMap,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { type StoredSubscription, type SubscriptionStore, sanitizeStored } from '../redfish/events/index.ts';

/**
 * Redfish event subscriptions kept in the cluster, so they survive agent restarts (issue 10,
 * point 4): one ConfigMap `<bmc-name>-redfish-subscriptions` in the BMC's namespace, owned by the
 * VirtualMachineBMC (deleted with it), holding `subscriptions.json`. The whole list is replaced on
 * every change, with the ConfigMap's resourceVersion (re-read once on a conflict).
 *
 * The agent needs `get`, `create` and `update` on that ConfigMap (and `get` on its
 * VirtualMachineBMC when no `uid` is given). Subscription `HttpHeaders` are stored in the
 * ConfigMap's data; nothing from the data is ever logged.
 */
export interface KubernetesSubscriptionStoreOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** The VirtualMachineBMC's name (the ConfigMap is `<name>-redfish-subscriptions`). */
  bmcName: string;
  /** The VirtualMachineBMC's uid for the owner reference; read from the API when omitted. */
  bmcUid?: string;
  logger?: Logger;
}

export const BMC_GROUP = 'bmc.kubevirt.io';
export const BMC_VERSION = 'v1beta1';
const DATA_KEY = 'subscriptions.json';
const FORMAT = 1;

export function subscriptionConfigMapName(bmcName: string): string {
  return `${bmcName}-redfish-subscriptions`;
}

const codeOf = (err: unknown): number | undefined =>
  err instanceof ApiException ? err.code : (err as { code?: number } | null)?.code;

export class KubernetesSubscriptionStore implements SubscriptionStore {
  readonly name: string;
  readonly #o: KubernetesSubscriptionStoreOptions;
  readonly #core: CoreV1Api;
  readonly #custom: CustomObjectsApi;
  #uid: string | undefined;

  constructor(options: KubernetesSubscriptionStoreOptions) {
    this.#o = options;
    this.name = subscriptionConfigMapName(options.bmcName);
    this.#core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#custom = options.kubeConfig.makeApiClient(CustomObjectsApi);
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
          await this.#core.createNamespacedConfigMap({
            namespace: this.#o.namespace,
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
          await this.#core.replaceNamespacedConfigMap({
            name: this.name,
            namespace: this.#o.namespace,
            body: { ...current, data },
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
        throw new Error(
          `could not store ConfigMap ${this.#o.namespace}/${this.name}: HTTP ${codeOf(err) ?? 'error'}`,
        );
      }
    }
  }

  async #read(): Promise<V1ConfigMap | null> {
    try {
      return await this.#core.readNamespacedConfigMap({ name: this.name, namespace: this.#o.namespace });
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
      const bmc = (await this.#custom.getNamespacedCustomObject({
        group: BMC_GROUP,
        version: BMC_VERSION,
        namespace: this.#o.namespace,
        plural: 'virtualmachinebmcs',
        name: this.#o.bmcName,
      })) as { metadata?: { uid?: string } };
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
