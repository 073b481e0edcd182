import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { agentRules } from '../../../src/controller/builders.ts';
import { type PolicyRule, uncovered } from '../../support/rbac-covers.ts';

const CLUSTER_ROLE = new URL('../../../deploy/rbac/cluster-role.yaml', import.meta.url);

function controllerRules(): PolicyRule[] {
  const docs = parseAllDocuments(readFileSync(CLUSTER_ROLE, 'utf8')).map((d) => d.toJS());
  const role = docs.find((d) => d?.kind === 'ClusterRole' && d.metadata?.name === 'kubevirtbmc-controller');
  assert.ok(role, 'deploy/rbac/cluster-role.yaml has the kubevirtbmc-controller ClusterRole');
  return role.rules;
}

// The API server refuses a Role that grants anything its creator does not hold ("is attempting to
// grant RBAC permissions not currently held"), so every agent Role must be covered by the
// controller's ClusterRole, in both placements.
test('the controller holds every permission it grants to a per-vm agent', () => {
  const granted = agentRules({ vms: ['vm-a'], secrets: ['creds-a'], bmcs: ['bmc-a'], bmc: 'bmc-a' });
  assert.deepEqual(uncovered(controllerRules(), granted as PolicyRule[]), []);
});

test('the controller holds every permission it grants to a shared agent', () => {
  const granted = agentRules({
    vms: ['vm-a', 'vm-b'],
    secrets: ['creds-a', 'creds-b'],
    bmcs: ['bmc-a', 'bmc-b'],
    bmc: null,
  });
  assert.deepEqual(uncovered(controllerRules(), granted as PolicyRule[]), []);
});

test('the covering check finds a permission that is not held', () => {
  const held: PolicyRule[] = [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }];
  assert.deepEqual(
    uncovered(held, [
      { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'], resourceNames: ['s'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
    ]),
    ['list core/secrets/s', 'create core/configmaps'],
  );
  // a named grant is covered by an unnamed hold, not the other way round
  assert.deepEqual(
    uncovered(
      [{ apiGroups: ['x'], resources: ['r'], verbs: ['get'], resourceNames: ['a'] }],
      [{ apiGroups: ['x'], resources: ['r'], verbs: ['get'] }],
    ),
    ['get x/r'],
  );
  assert.deepEqual(uncovered([{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }], held), []);
});
