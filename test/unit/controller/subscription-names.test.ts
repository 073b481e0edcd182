import assert from 'node:assert/strict';
import { test } from 'node:test';
import { subscriptionConfigMapName as agentName } from '../../../src/agent/subscription-store.ts';
import { agentRules, subscriptionConfigMap } from '../../../src/controller/builders.ts';
import { subscriptionConfigMapName as controllerName } from '../../../src/controller/names.ts';
import { bmc } from './fake-cluster.ts';

test('the controller grants the agent exactly the ConfigMaps the agent writes its subscriptions to', () => {
  for (const bmc of ['sample-vm-bmc', 'a', 'x'.repeat(40)]) assert.equal(controllerName(bmc), agentName(bmc));
  const rules = agentRules({ vms: ['vm1'], secrets: ['s'], bmcs: ['b2', 'b1'], bmc: null }) as Array<{
    resources: string[];
    resourceNames?: string[];
    verbs: string[];
  }>;
  const named = rules.find((r) => r.resources.includes('configmaps') && r.resourceNames);
  assert.deepEqual(named?.resourceNames, [agentName('b1'), agentName('b2')]);
  assert.deepEqual(named?.verbs, ['get', 'update']);
  const unnamed = rules.filter((r) => r.resources.includes('configmaps') && !r.resourceNames);
  assert.deepEqual(unnamed, [], 'no ConfigMap verb without names: the controller creates them');
});

test('the controller creates each BMC its subscriptions ConfigMap, empty and owned by the BMC', () => {
  const cm = subscriptionConfigMap(bmc('lab', 'b1', 'vm1', 's'));
  assert.equal(cm.metadata.name, agentName('b1'));
  assert.equal(cm.metadata.namespace, 'lab');
  assert.equal(cm.data, undefined, "the data is the agent's");
  assert.deepEqual(
    cm.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.controller]),
    [['VirtualMachineBMC', 'b1', true]],
  );
  assert.equal(cm.metadata.labels?.['app.kubernetes.io/managed-by'], 'kubevirtbmc-controller');
});
