// What `kubectl get vmbmc` and `kubectl describe vmbmc` show, computed from what the reconcile found.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { serviceEndpoints } from '../../../src/controller/reconciler.ts';
import {
  agentCondition,
  conditions,
  type Dependencies,
  readyCondition,
  statusEvents,
  statusPatch,
} from '../../../src/controller/status.ts';
import type { BmcStatus, Condition, KObject } from '../../../src/controller/types.ts';

const OK: Dependencies = {
  vmOk: true,
  vmMessage: 'VirtualMachine ns/vm exists',
  secretOk: true,
  secretReason: 'SecretValid',
  secretMessage: 'Secret ns/s holds a valid username and password',
  active: true,
};
const deployment = (available: number): KObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'vbmc-a', namespace: 'ns' },
  status: { availableReplicas: available },
});

test('Ready names the first thing missing, in the order a user fixes them', () => {
  const running = agentCondition(OK, deployment(1), 'vbmc-a', 'ns');
  assert.deepEqual(running, ['True', 'AgentRunning', 'Deployment vbmc-a has 1 available replica']);
  const endpoints = { ipmi: '10.0.0.1:623', redfish: 'http://10.0.0.1:80' };
  assert.deepEqual(readyCondition(OK, running, endpoints, 'vbmc-a'), [
    'True',
    'BMCReady',
    "IPMI at 10.0.0.1:623, Redfish at http://10.0.0.1:80 (the Service's cluster IP: reachable from inside the cluster only)",
  ]);
  // The kind of address is named, so a user knows where it can be reached from.
  assert.match(
    readyCondition(OK, running, { ipmi: '192.0.2.7:623', loadBalancerIP: '192.0.2.7' }, 'vbmc-a')[2],
    /^IPMI at 192\.0\.2\.7:623 \(the Service's load balancer address\)$/,
  );
  assert.match(
    readyCondition(OK, running, { ipmi: '127.0.0.1:20623', published: true }, 'vbmc-a')[2],
    /^IPMI at 127\.0\.0\.1:20623 \(published on the node's host by the cluster\)$/,
  );
  assert.equal(readyCondition(OK, running, {}, 'vbmc-a')[1], 'ServicePending');
  const starting = agentCondition(OK, deployment(0), 'vbmc-a', 'ns');
  assert.equal(starting[1], 'AgentStarting');
  assert.match(starting[2], /kubectl -n ns describe deployment vbmc-a/);
  assert.equal(readyCondition(OK, starting, endpoints, 'vbmc-a')[1], 'AgentStarting');
  const noSecret = {
    ...OK,
    secretOk: false,
    active: false,
    secretReason: 'SecretNotFound',
    secretMessage: 'Secret ns/s not found',
  };
  const down = agentCondition(noSecret, deployment(0), 'vbmc-a', 'ns');
  assert.deepEqual(down, [
    'False',
    'AgentScaledDown',
    'agent not running: the credentials Secret is not usable',
  ]);
  assert.deepEqual(readyCondition(noSecret, down, endpoints, 'vbmc-a'), [
    'False',
    'SecretNotFound',
    'Secret ns/s not found',
  ]);
  const noVm = { ...noSecret, vmOk: false, vmMessage: 'VirtualMachine ns/vm not found' };
  assert.equal(readyCondition(noVm, down, endpoints, 'vbmc-a')[1], 'VirtualMachineNotFound');
});

test('a condition keeps its transition time until its status changes', () => {
  const before: Condition[] = [
    {
      type: 'Ready',
      status: 'False',
      reason: 'AgentStarting',
      message: '',
      lastTransitionTime: '2026-01-01T00:00:00Z',
    },
  ];
  const agent = agentCondition(OK, deployment(0), 'vbmc-a', 'ns');
  const still = conditions(OK, agent, readyCondition(OK, agent, {}, 'x'), before, 2, '2026-01-02T00:00:00Z');
  assert.equal(still[0]!.lastTransitionTime, '2026-01-01T00:00:00Z');
  assert.equal(still[0]!.observedGeneration, 2);
  const ready: ReturnType<typeof readyCondition> = ['True', 'BMCReady', 'IPMI at x'];
  const changed = conditions(OK, agent, ready, before, 2, '2026-01-02T00:00:00Z');
  assert.equal(changed[0]!.lastTransitionTime, '2026-01-02T00:00:00Z');
  assert.deepEqual(
    changed.map((c) => c.type),
    ['Ready', 'VirtualMachineAvailable', 'SecretAvailable', 'AgentAvailable', 'ServiceReady'],
  );
});

test('the status patch removes what is gone and is null when nothing changed', () => {
  const old: BmcStatus = {
    placement: 'per-vm',
    clusterIP: '10.0.0.1',
    ports: { ipmi: 623, redfish: 80 },
    endpoints: { ipmi: '10.0.0.1:623' },
  };
  assert.equal(
    statusPatch(old, { ...old, ports: { redfish: 80, ipmi: 623 } }),
    null,
    'key order is not a change',
  );
  const next: BmcStatus = { placement: 'per-vm', ports: { redfish: 80 }, endpoints: {} };
  assert.deepEqual(statusPatch(old, next), {
    placement: 'per-vm',
    clusterIP: null,
    ports: { redfish: 80, ipmi: null },
    endpoints: { ipmi: null },
  });
});

test('Events: failures are Warnings, recoveries and start-up steps Normal, repeats none', () => {
  const cond = (type: string, status: 'True' | 'False', reason: string): Condition => ({
    type,
    status,
    reason,
    message: reason,
  });
  const failing = [
    cond('Ready', 'False', 'SecretNotFound'),
    cond('SecretAvailable', 'False', 'SecretNotFound'),
  ];
  assert.deepEqual(
    statusEvents(undefined, failing).map((e) => `${e.type} ${e.reason}`),
    ['Warning SecretNotFound', 'Warning SecretNotFound'],
  );
  assert.deepEqual(statusEvents(failing, failing), [], 'nothing changed, nothing said');
  const recovered = [cond('Ready', 'True', 'BMCReady'), cond('SecretAvailable', 'True', 'SecretValid')];
  assert.deepEqual(
    statusEvents(failing, recovered).map((e) => `${e.type} ${e.reason}`),
    ['Normal BMCReady', 'Normal SecretValid'],
  );
  const starting = [
    cond('Ready', 'False', 'AgentStarting'),
    cond('AgentAvailable', 'False', 'AgentStarting'),
  ];
  assert.deepEqual(
    statusEvents(undefined, starting).map((e) => `${e.type} ${e.reason}`),
    ['Normal AgentStarting'],
    'a start-up state is not a warning, and an agent that never ran did not fail',
  );
});

test('shared placement: a BMC that cannot be served does not claim the running shared agent is down', () => {
  const noVm = { ...OK, vmOk: false, active: false };
  assert.deepEqual(agentCondition(noVm, deployment(1), 'kubevirtbmc-agent', 'ns', 'shared'), [
    'False',
    'BMCNotServed',
    'the shared agent kubevirtbmc-agent does not serve this BMC: the VirtualMachine is missing',
  ]);
  assert.equal(agentCondition(noVm, deployment(0), 'vbmc-a', 'ns', 'per-vm')[1], 'AgentScaledDown');
});

test('endpoints: published host addresses when the node publishes them; never the ClusterIP meanwhile', () => {
  const svc = (annotations?: Record<string, string>): KObject => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'vbmc-a', namespace: 'ns', ...(annotations ? { annotations } : {}) },
    spec: {
      clusterIP: '10.96.0.14',
      ports: [
        { name: 'ipmi', port: 623, protocol: 'UDP' },
        { name: 'redfish', port: 80, protocol: 'TCP' },
      ],
    },
  });
  // A real cluster: the ClusterIP is the address there is.
  assert.deepEqual(serviceEndpoints(svc(), false), {
    ipmi: '10.96.0.14:623',
    redfish: 'http://10.96.0.14:80',
  });
  // The node publishes this Service but no ready pod backs it yet: no address, so Ready waits.
  assert.deepEqual(serviceEndpoints(svc({ 'sim.kubevirtbmc.io/endpoints': '{}' }), false), {});
  assert.deepEqual(
    serviceEndpoints(
      svc({ 'sim.kubevirtbmc.io/endpoints': '{"623/UDP":"127.0.0.1:20623","80/TCP":"127.0.0.1:20080"}' }),
      false,
    ),
    { ipmi: '127.0.0.1:20623', redfish: 'http://127.0.0.1:20080', published: true },
  );
});
