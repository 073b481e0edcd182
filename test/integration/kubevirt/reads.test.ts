import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { KubeVirtBackend } from '../../../src/kubevirt/index.ts';
import type { Machine } from '../../../src/machine/index.ts';
import { startCluster, type TestCluster } from '../../support/cluster.ts';
import {
  loadKubeConfig,
  NAMESPACE,
  startBackend,
  UserClient,
  uniqueName,
  vmManifest,
} from '../../support/kubevirt-fixtures.ts';
import { waitFor } from '../../support/wait.ts';

let sim: TestCluster;
let backend: KubeVirtBackend;
let name: string;
let m: Machine;

before(async () => {
  sim = await startCluster({ timing: 'fast' });
  const kc = loadKubeConfig(sim.kubeconfigPath);
  name = uniqueName('reads');
  await new UserClient(kc).createVm(vmManifest(name, { runStrategy: 'Always' }));
  backend = await startBackend(kc);
  m = backend.machine(name);
  await waitFor(() => m.getPowerState() === 'On' && backend.connected, {
    timeoutMs: 10_000,
    what: 'VM on, caches live',
  });
  await m.insertMedia('Cd', { image: 'http://images.example/r.iso' });
});
after(async () => {
  await backend?.stop();
  await sim?.stop();
});

test('thousands of reads make zero API requests; a write makes exactly one', async () => {
  const count = backend.apiRequestCount;
  sim.stats.reset();
  for (let i = 0; i < 2000; i++) {
    m.getPowerState();
    m.getBootOverride();
    m.getBootCapabilities();
    m.getSecureBoot();
    m.getMediaSlots();
    m.getInventory();
    m.getIdentity();
  }
  assert.equal(backend.apiRequestCount, count, 'the backend counted no request');
  assert.deepEqual(
    sim.stats.requests().map((r) => `${r.method} ${r.path}`),
    [],
    'the API server saw no request',
  );
  await m.power('ForceOff');
  assert.equal(backend.apiRequestCount, count + 1, 'one request for one action');
  assert.deepEqual(
    sim.stats.requests().map((r) => `${r.method} ${r.path}`),
    [`PUT /apis/subresources.kubevirt.io/v1/namespaces/${NAMESPACE}/virtualmachines/${name}/stop`],
  );
});
