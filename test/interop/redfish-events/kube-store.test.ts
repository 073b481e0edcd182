import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import {
  KubernetesSubscriptionStore,
  subscriptionConfigMapName,
} from '../../../src/agent/subscription-store.ts';
import { GC_TIMEOUT_MS, startCluster, type TestCluster } from '../../support/cluster.ts';
import { type Subscriber, startSubscriber } from '../../support/redfish-events.ts';
import { startRedfish } from '../../support/redfish-service.ts';
import { kubeConfigFor } from '../../support/sim-fixtures.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * Subscriptions persist in the cluster (a ConfigMap owned by the VirtualMachineBMC):
 * a new RedfishServer with the same store still has them, still delivers to them, and deleting
 * the VirtualMachineBMC garbage-collects the ConfigMap.
 */
const NS = 'default';
const BMC = 'vm1-bmc';
let cluster: TestCluster;
let kc: KubeConfig;
let subscriber: Subscriber;

before(async () => {
  cluster = await startCluster({ timing: 'fast' });
  kc = kubeConfigFor(cluster.kubeconfigPath);
  await kc.makeApiClient(ApiextensionsV1Api).createCustomResourceDefinition({
    body: {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'virtualmachinebmcs.bmc.kubevirt.io' },
      spec: {
        group: 'bmc.kubevirt.io',
        scope: 'Namespaced',
        names: {
          kind: 'VirtualMachineBMC',
          plural: 'virtualmachinebmcs',
          singular: 'virtualmachinebmc',
          shortNames: ['vmbmc'],
        },
        versions: [
          {
            name: 'v1beta1',
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } },
          },
        ],
      },
    },
  });
  const custom = kc.makeApiClient(CustomObjectsApi);
  await waitFor(
    async () => {
      await custom.createNamespacedCustomObject({
        group: 'bmc.kubevirt.io',
        version: 'v1beta1',
        namespace: NS,
        plural: 'virtualmachinebmcs',
        body: {
          apiVersion: 'bmc.kubevirt.io/v1beta1',
          kind: 'VirtualMachineBMC',
          metadata: { name: BMC, namespace: NS },
          spec: { virtualMachineRef: { name: 'vm1' }, authSecretRef: { name: 'vm1-auth' } },
        },
      });
      return true;
    },
    { what: 'the VirtualMachineBMC CRD to serve', timeoutMs: 10_000, intervalMs: 50 },
  );
  subscriber = await startSubscriber();
});

after(async () => {
  await subscriber?.close();
  await cluster?.stop();
});

test('subscriptions survive a RedfishServer restart, in a ConfigMap owned by the VirtualMachineBMC', async () => {
  const store = () => new KubernetesSubscriptionStore({ kubeConfig: kc, namespace: NS, bmcName: BMC });
  const first = await startRedfish({ server: { subscriptionStore: store() } });
  let id: string;
  try {
    const r = await first.request('POST', '/redfish/v1/EventService/Subscriptions', {
      json: {
        Destination: subscriber.url,
        Protocol: 'Redfish',
        Context: 'provisioner-7',
        RegistryPrefixes: ['ResourceEvent'],
        HttpHeaders: [{ Authorization: 'Bearer kept-secret' }],
      },
    });
    assert.equal(r.status, 201, r.text);
    id = r.json.Id;
  } finally {
    await first.close();
  }

  const core = kc.makeApiClient(CoreV1Api);
  const cm = await core.readNamespacedConfigMap({ name: subscriptionConfigMapName(BMC), namespace: NS });
  const owner = cm.metadata?.ownerReferences?.[0];
  assert.equal(owner?.kind, 'VirtualMachineBMC');
  assert.equal(owner?.name, BMC);
  assert.ok(owner?.uid, 'the owner reference carries the uid');

  // A new service (the agent restarted) with a fresh store object on the same ConfigMap.
  const second = await startRedfish({ server: { subscriptionStore: store() } });
  try {
    const got = await second.request('GET', `/redfish/v1/EventService/Subscriptions/${id}`);
    assert.equal(got.status, 200);
    assert.equal(got.json.Context, 'provisioner-7');
    assert.equal(got.json.Destination, subscriber.url);
    assert.deepEqual(got.json.RegistryPrefixes, ['ResourceEvent']);
    assert.deepEqual(got.json.HttpHeaders, [], 'HttpHeaders stay write-only after a restart');
    // …and it still delivers, with the stored header.
    const reset = await second.request('POST', '/redfish/v1/Systems/1/Actions/ComputerSystem.Reset', {
      json: { ResetType: 'On' },
    });
    assert.equal(reset.status, 204);
    await waitFor(() => subscriber.received.length >= 2, { what: 'events after the restart' });
    assert.equal(subscriber.received[0]!.body.Context, 'provisioner-7');
    assert.equal(subscriber.received[0]!.headers.authorization, 'Bearer kept-secret');
    // A PATCH and a DELETE are stored too.
    const patched = await second.request('PATCH', `/redfish/v1/EventService/Subscriptions/${id}`, {
      json: { Context: 'provisioner-8' },
    });
    assert.equal(patched.status, 200);
    const stored = await core.readNamespacedConfigMap({
      name: subscriptionConfigMapName(BMC),
      namespace: NS,
    });
    assert.match(stored.data?.['subscriptions.json'] ?? '', /provisioner-8/);
    assert.equal(
      (await second.request('DELETE', `/redfish/v1/EventService/Subscriptions/${id}`)).status,
      204,
    );
  } finally {
    await second.close();
  }
  const third = await startRedfish({ server: { subscriptionStore: store() } });
  try {
    const list = await third.request('GET', '/redfish/v1/EventService/Subscriptions');
    assert.equal(list.json['Members@odata.count'], 0, 'the deletion was stored');
  } finally {
    await third.close();
  }

  // Deleting the VirtualMachineBMC deletes the ConfigMap (owner reference, garbage collection).
  await kc.makeApiClient(CustomObjectsApi).deleteNamespacedCustomObject({
    group: 'bmc.kubevirt.io',
    version: 'v1beta1',
    namespace: NS,
    plural: 'virtualmachinebmcs',
    name: BMC,
  });
  await waitFor(
    async () => {
      try {
        await core.readNamespacedConfigMap({ name: subscriptionConfigMapName(BMC), namespace: NS });
        return false;
      } catch {
        return true;
      }
    },
    { what: 'the ConfigMap to be garbage-collected', timeoutMs: GC_TIMEOUT_MS, intervalMs: 50 },
  );
});

test('an unreachable cluster at start: changes answer 503 until the stored list could be read', async () => {
  const store = new KubernetesSubscriptionStore({
    kubeConfig: kc,
    namespace: NS,
    bmcName: 'other-bmc',
    bmcUid: 'u-1',
  });
  cluster.faults.failNext(1, 500, { path: /redfish-subscriptions/ });
  const fx = await startRedfish({ server: { subscriptionStore: store } });
  try {
    const r = await fx.request('POST', '/redfish/v1/EventService/Subscriptions', {
      json: { Destination: subscriber.url, Protocol: 'Redfish' },
    });
    assert.equal(r.status, 503, 'nothing is saved over a list that was not read');
    assert.equal(r.headers['retry-after'], '5');
    assert.equal(
      (await fx.request('GET', '/redfish/v1/EventService/Subscriptions')).json['Members@odata.count'],
      0,
    );
  } finally {
    await fx.close();
  }
});
