/**
 * What installing KubeVirt and CDI leaves in a cluster, as far as clients can see it: the CRDs
 * (VirtualMachine, VirtualMachineInstance, DataVolume, KubeVirt, and instancetype.kubevirt.io's
 * instance types and preferences), the namespace `kubevirt` with a
 * `KubeVirt` CR, the `virt-api` Service and the `v1`/`v1alpha3.subresources.kubevirt.io`
 * APIServices pointing at the fake virt-api, its validating webhooks, and a StorageClass for the
 * fake CDI's volumes. Everything is created or updated through our client and waited for
 * (CRDs Established, APIServices Available).
 *
 * The aggregator finds an APIService's server through its Service; it dials a ClusterIP Service's
 * cluster IP (unreachable here), but an ExternalName Service's `externalName` at the APIService's
 * port, verifying the serving certificate for `<service>.<namespace>.svc`. So `virt-api` is an
 * ExternalName Service for 127.0.0.1 and the APIService names the fake virt-api's port.
 */
import { KubeApiError, type KubeClient } from '../../../../../src/kube/client.ts';
import { KUBEVIRT_CRDS, openCrd } from '../../embedded/kubevirt/crds.ts';
import { DV_WEBHOOK, VM_WEBHOOK, VMI_CREATE_WEBHOOK } from './admission.ts';
import { STORAGE_CLASS } from './controller.ts';
import { INSTANCETYPE_CRDS } from './instancetype.ts';
import type { Obj } from './logic.ts';
import { SUBRESOURCE_GROUP, SUBRESOURCE_VERSIONS } from './virt-api.ts';

export const KUBEVIRT_NAMESPACE = 'kubevirt';
export const VIRT_API_SERVICE = 'virt-api';
export const KUBEVIRT_VERSION = 'v1.9.0-fake';
export const VM_WEBHOOK_CONFIG = 'virt-api-validator';
export const DV_WEBHOOK_CONFIG = 'cdi-api-datavolume-validate';

/** The KubeVirt CR's CRD (kubevirts.kubevirt.io), kept open like the others. */
export const KUBEVIRT_CR_CRD: Obj = openCrd({
  group: 'kubevirt.io',
  version: 'v1',
  kind: 'KubeVirt',
  plural: 'kubevirts',
  shortNames: ['kv', 'kvs'],
  component: 'kubevirt',
  columns: [
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
  ],
});

export const ALL_CRDS: Obj[] = [...KUBEVIRT_CRDS, KUBEVIRT_CR_CRD, ...INSTANCETYPE_CRDS];

function code(e: unknown): number {
  return e instanceof KubeApiError ? e.code : 0;
}

/** Creates `obj` at `collection`, or replaces the existing one (keeping its resourceVersion). */
export async function apply(client: KubeClient, collection: string, obj: Obj): Promise<Obj> {
  try {
    return await client.request<Obj>('POST', collection, { body: obj });
  } catch (e) {
    if (code(e) !== 409) throw e;
  }
  const path = `${collection}/${encodeURIComponent(obj.metadata.name)}`;
  for (let attempt = 0; ; attempt++) {
    const cur = await client.request<Obj>('GET', path);
    const next = {
      ...obj,
      metadata: { ...cur.metadata, ...obj.metadata, resourceVersion: cur.metadata.resourceVersion },
    };
    try {
      return await client.request<Obj>('PUT', path, { body: next });
    } catch (e) {
      if (code(e) !== 409 || attempt >= 4) throw e;
    }
  }
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      if (await check()) return;
    } catch (e) {
      last = String((e as Error).message ?? e);
    }
    if (Date.now() > deadline)
      throw new Error(`${what} not ready after ${timeoutMs} ms${last ? `: ${last}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function conditionTrue(obj: Obj, type: string): boolean {
  return (obj.status?.conditions ?? []).some((c: Obj) => c.type === type && c.status === 'True');
}

/** Installs the CRDs and waits until each is Established. */
export async function installCrds(client: KubeClient, timeoutMs = 30_000): Promise<void> {
  const base = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  for (const crd of ALL_CRDS) await apply(client, base, crd);
  for (const crd of ALL_CRDS) {
    await waitFor(`CRD ${crd.metadata.name} Established`, timeoutMs, async () =>
      conditionTrue(await client.request<Obj>('GET', `${base}/${crd.metadata.name}`), 'Established'),
    );
  }
  // Established comes before the resource's storage is ready: lists answer 503 "storage is
  // (re)initializing" for a moment, and a controller started then would begin with retries
  for (const crd of ALL_CRDS) {
    const { group, names, versions } = crd.spec;
    await waitFor(`${names.plural}.${group} served`, timeoutMs, async () => {
      await client.request('GET', `/apis/${group}/${versions[0].name}/${names.plural}`, {
        query: { limit: 1 },
      });
      return true;
    });
  }
}

/**
 * The KubeVirt CR's spec as installed: no feature gate named, so KubeVirt v1.9.0's defaults apply
 * (DeclarativeHotplugVolumes on, HotplugVolumes off; feature-gates.ts). Tests change the gates by
 * editing `spec.configuration.developerConfiguration`, as on a real cluster.
 */
export function kubeVirtCrSpec(): Obj {
  return {
    certificateRotateStrategy: {},
    configuration: { developerConfiguration: { featureGates: [] } },
    customizeComponents: {},
    imagePullPolicy: 'IfNotPresent',
    workloadUpdateStrategy: {},
  };
}

/** The namespace kubevirt, the KubeVirt CR (Deployed), and the fake CDI's StorageClass. */
export async function installKubeVirtCr(client: KubeClient): Promise<void> {
  try {
    await client.request('POST', '/api/v1/namespaces', {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: KUBEVIRT_NAMESPACE } },
    });
  } catch (e) {
    if (code(e) !== 409) throw e;
  }
  const collection = `/apis/kubevirt.io/v1/namespaces/${KUBEVIRT_NAMESPACE}/kubevirts`;
  const kv = await apply(client, collection, {
    apiVersion: 'kubevirt.io/v1',
    kind: 'KubeVirt',
    metadata: { name: 'kubevirt', namespace: KUBEVIRT_NAMESPACE },
    spec: kubeVirtCrSpec(),
  });
  const status = {
    phase: 'Deployed',
    observedKubeVirtVersion: KUBEVIRT_VERSION,
    targetKubeVirtVersion: KUBEVIRT_VERSION,
    observedKubeVirtRegistry: 'quay.io/kubevirt',
    conditions: [
      {
        type: 'Available',
        status: 'True',
        reason: 'AllComponentsReady',
        message: 'All components are ready.',
      },
      {
        type: 'Progressing',
        status: 'False',
        reason: 'AllComponentsReady',
        message: 'All components are ready.',
      },
      {
        type: 'Degraded',
        status: 'False',
        reason: 'AllComponentsReady',
        message: 'All components are ready.',
      },
    ],
  };
  await client.request('PUT', `${collection}/kubevirt/status`, { body: { ...kv, status } });
  await apply(client, '/apis/storage.k8s.io/v1/storageclasses', {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    // the cluster's default class, as CDI finds it (`GetPlatformDefaultStorageClass`)
    metadata: { name: STORAGE_CLASS, annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
    // no provisioner: the fake CDI makes each DataVolume's volume itself
    provisioner: 'kubernetes.io/no-provisioner',
    reclaimPolicy: 'Retain',
    volumeBindingMode: 'Immediate',
  });
}

export interface Registration {
  port: number;
  caBundle: string;
}

/** The virt-api Service and APIServices; waits until the aggregator finds them Available. */
export async function registerAggregatedApi(
  client: KubeClient,
  reg: Registration,
  timeoutMs = 30_000,
): Promise<void> {
  const svcs = `/api/v1/namespaces/${KUBEVIRT_NAMESPACE}/services`;
  await apply(client, svcs, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: VIRT_API_SERVICE,
      namespace: KUBEVIRT_NAMESPACE,
      labels: { 'kubevirt.io': 'virt-api' },
    },
    spec: {
      type: 'ExternalName',
      externalName: '127.0.0.1',
      ports: [{ name: 'https', port: 443, targetPort: reg.port }],
    },
  });
  const base = '/apis/apiregistration.k8s.io/v1/apiservices';
  const caBundle = Buffer.from(reg.caBundle).toString('base64');
  for (const version of SUBRESOURCE_VERSIONS) {
    await apply(client, base, {
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: { name: `${version}.${SUBRESOURCE_GROUP}`, labels: { 'kubevirt.io': 'virt-api-aggregator' } },
      spec: {
        group: SUBRESOURCE_GROUP,
        version,
        groupPriorityMinimum: 1000,
        versionPriority: version === 'v1' ? 15 : 10,
        service: { namespace: KUBEVIRT_NAMESPACE, name: VIRT_API_SERVICE, port: reg.port },
        caBundle,
      },
    });
  }
  for (const version of SUBRESOURCE_VERSIONS) {
    const name = `${version}.${SUBRESOURCE_GROUP}`;
    await waitFor(`APIService ${name} Available`, timeoutMs, async () => {
      const a = await client.request<Obj>('GET', `${base}/${name}`);
      // Available for the current registration, not a previous one's
      return a.spec?.service?.port === reg.port && conditionTrue(a, 'Available');
    });
  }
}

function webhook(
  name: string,
  url: string,
  caBundle: string,
  group: string,
  version: string,
  resource: string,
  operations: string[],
): Obj {
  return {
    name,
    clientConfig: { url, caBundle },
    rules: [
      { operations, apiGroups: [group], apiVersions: [version], resources: [resource], scope: 'Namespaced' },
    ],
    failurePolicy: 'Fail',
    matchPolicy: 'Equivalent',
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    timeoutSeconds: 10,
  };
}

/** KubeVirt's and CDI's validating webhooks, served by the fake virt-api. */
export async function registerWebhooks(client: KubeClient, reg: Registration): Promise<void> {
  const base = '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations';
  const url = (path: string) => `https://127.0.0.1:${reg.port}${path}`;
  const ca = Buffer.from(reg.caBundle).toString('base64');
  await apply(client, base, {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: VM_WEBHOOK_CONFIG, labels: { 'kubevirt.io': 'virt-api-validator' } },
    webhooks: [
      webhook(VM_WEBHOOK, url('/virtualmachines-validate'), ca, 'kubevirt.io', 'v1', 'virtualmachines', [
        'CREATE',
        'UPDATE',
      ]),
      webhook(
        VMI_CREATE_WEBHOOK,
        url('/virtualmachineinstances-validate-create'),
        ca,
        'kubevirt.io',
        'v1',
        'virtualmachineinstances',
        ['CREATE'],
      ),
    ],
  });
  await apply(client, base, {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: DV_WEBHOOK_CONFIG, labels: { 'cdi.kubevirt.io': '' } },
    webhooks: [
      webhook(DV_WEBHOOK, url('/datavolume-validate'), ca, 'cdi.kubevirt.io', 'v1beta1', 'datavolumes', [
        'CREATE',
        'UPDATE',
      ]),
    ],
  });
}

/** Removes the webhooks and APIServices (a stopped virt-api must not make every VM write fail). */
export async function unregister(client: KubeClient): Promise<void> {
  const paths = [
    `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${VM_WEBHOOK_CONFIG}`,
    `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${DV_WEBHOOK_CONFIG}`,
    ...SUBRESOURCE_VERSIONS.map(
      (v) => `/apis/apiregistration.k8s.io/v1/apiservices/${v}.${SUBRESOURCE_GROUP}`,
    ),
  ];
  await Promise.all(
    paths.map((p) =>
      client.request('DELETE', p, { timeoutMs: 3000 }).catch(() => {
        // gone already, or the API server is gone
      }),
    ),
  );
}
