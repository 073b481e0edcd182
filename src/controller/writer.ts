/** ClusterWriter over the API: one request per call, through KubeClient. */
import type { KubeClient } from '../kube/client.ts';
import { isConflict, isNotFound } from '../kube/errors.ts';
import { apiPath, KINDS } from '../kube/paths.ts';
import type { ResourceKind } from '../kube/types.ts';
import type { ClusterWriter } from './reconciler.ts';
import { BMC_KIND, KIND, type KObject, type VirtualMachineBMC } from './types.ts';

/** The kinds the controller writes. */
export const WRITTEN_KINDS: Record<string, ResourceKind> = {
  Deployment: KINDS.Deployment,
  Service: KINDS.Service,
  ServiceAccount: KINDS.ServiceAccount,
  ConfigMap: KINDS.ConfigMap,
  Secret: KINDS.Secret,
  Role: KINDS.Role,
  RoleBinding: KINDS.RoleBinding,
  [KIND]: BMC_KIND,
  /** Only to carry over an upstream boot override (src/controller/upstream.ts). */
  VirtualMachine: { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines', kind: 'VirtualMachine' },
};

function kindOf(kind: string): ResourceKind {
  const k = WRITTEN_KINDS[kind];
  if (!k) throw new Error(`no API path known for kind ${kind}`);
  return k;
}

export function collectionPath(kind: string, namespace: string): string {
  return apiPath(kindOf(kind), { namespace });
}

export function objectPath(obj: KObject, subresource?: string): string {
  return apiPath(kindOf(obj.kind), {
    namespace: obj.metadata.namespace ?? 'default',
    name: obj.metadata.name,
    subresource,
  });
}

export interface WriteListener {
  written(obj: KObject | null, key: string): void;
}

export class ApiWriter implements ClusterWriter {
  readonly #client: KubeClient;
  readonly #component: string;
  readonly #onWrite: (kind: string, namespace: string, name: string, obj: KObject | null) => void;

  constructor(
    client: KubeClient,
    onWrite: (kind: string, namespace: string, name: string, obj: KObject | null) => void,
    component = 'kubevirtbmc-controller',
  ) {
    this.#client = client;
    this.#onWrite = onWrite;
    this.#component = component;
  }

  async create(obj: KObject): Promise<KObject> {
    const ns = obj.metadata.namespace ?? 'default';
    try {
      const out = await this.#client.request<KObject>('POST', collectionPath(obj.kind, ns), { body: obj });
      this.#onWrite(obj.kind, ns, obj.metadata.name, out);
      return out;
    } catch (err) {
      // Our cache had not seen it yet: it exists, the watch will bring it and a later pass compares.
      if (isConflict(err)) {
        return this.#client.request<KObject>('GET', objectPath(obj));
      }
      throw err;
    }
  }

  async replace(obj: KObject): Promise<KObject> {
    const out = await this.#client.request<KObject>('PUT', objectPath(obj), { body: obj });
    this.#onWrite(obj.kind, obj.metadata.namespace ?? 'default', obj.metadata.name, out);
    return out;
  }

  async delete(obj: KObject): Promise<void> {
    try {
      await this.#client.request('DELETE', objectPath(obj), {
        body: {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          propagationPolicy: 'Background',
          ...(obj.metadata.uid ? { preconditions: { uid: obj.metadata.uid } } : {}),
        },
      });
    } catch (err) {
      // 409: the uid precondition failed, it is another object of that name now (kept)
      if (isConflict(err)) return;
      if (!isNotFound(err)) throw err;
    }
    this.#onWrite(obj.kind, obj.metadata.namespace ?? 'default', obj.metadata.name, null);
  }

  async patchStatus(bmc: VirtualMachineBMC, status: Record<string, unknown>): Promise<void> {
    const out = await this.#client.request<KObject>('PATCH', objectPath(bmc, 'status'), {
      body: { status },
      contentType: 'application/merge-patch+json',
    });
    this.#onWrite(KIND, bmc.metadata.namespace ?? 'default', bmc.metadata.name, out);
  }

  async event(
    bmc: VirtualMachineBMC,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    await postEvent(this.#client, bmc, type, reason, message, this.#component);
  }
}

/** Records a core/v1 Event about `obj` (shown by `kubectl describe` and `kubectl get events`). */
export async function postEvent(
  client: KubeClient,
  obj: KObject,
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
  component: string,
): Promise<void> {
  const ns = obj.metadata.namespace ?? 'default';
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await client.request('POST', apiPath(KINDS.Event, { namespace: ns }), {
    body: {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${obj.metadata.name}.`, namespace: ns },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: obj.metadata.name,
        namespace: ns,
        uid: obj.metadata.uid,
        resourceVersion: obj.metadata.resourceVersion,
      },
      type,
      reason,
      message: message.slice(0, 1024),
      source: { component },
      reportingComponent: component,
      reportingInstance: process.env.POD_NAME ?? component,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    },
  });
}
