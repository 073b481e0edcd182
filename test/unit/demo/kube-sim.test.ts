// The product loads the cluster simulator by package name only when it is installed. These check
// that a clone has it, that it still provides what the product uses (the assignment below fails
// the type check otherwise), and what a user without it is told.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as kubeSim from '@kubevirtbmc/kube-sim';
import { KubeSimMissingError, type KubeSimModule, loadKubeSim } from '../../../src/demo/kube-sim.ts';

const provides: KubeSimModule = kubeSim;

test('a clone has the simulator package, and it provides what the demo and `sim` use', async () => {
  const loaded = await loadKubeSim();
  assert.equal(loaded.startSimCluster, provides.startSimCluster);
  assert.equal(loaded.startRealCluster, provides.startRealCluster);
  assert.match(loaded.BUILD_HINT, /npm run control-plane/);
});

test('without the package, the error says it is not in the image and how to get it', async () => {
  const err = await loadKubeSim('@kubevirtbmc/not-installed').then(
    () => assert.fail('loaded a package that does not exist'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof KubeSimMissingError);
  assert.match(err.message, /not installed/);
  assert.match(err.message, /clone of the repository after `npm ci`/);
});
