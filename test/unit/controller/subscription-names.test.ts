import assert from 'node:assert/strict';
import { test } from 'node:test';
import { subscriptionConfigMapName as agentName } from '../../../src/agent/subscription-store.ts';
import { agentRules } from '../../../src/controller/builders.ts';
import { subscriptionConfigMapName as controllerName } from '../../../src/controller/names.ts';

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
  const create = rules.find((r) => r.resources.includes('configmaps') && !r.resourceNames);
  assert.deepEqual(create?.verbs, ['create'], 'create cannot be limited by name, and is all it gets');
});
