/** Every differential check, in the order they run (garbage collection last: the real one warms up meanwhile). */
import type { Check } from '../lib.ts';
import { aggregatorChecks } from './aggregator.ts';
import { authChecks } from './auth.ts';
import { crdChecks } from './crd.ts';
import { crudChecks } from './crud.ts';
import { discoveryChecks } from './discovery.ts';
import { kubectlChecks } from './kubectl.ts';
import { lifecycleChecks } from './lifecycle.ts';
import { nodeChecks } from './nodes.ts';
import { patchChecks } from './patch.ts';
import { queryChecks } from './query.ts';
import { statusChecks } from './status.ts';
import { storageChecks } from './storage.ts';
import { watchChecks } from './watch.ts';

export const CHECKS: Check[] = [
  ...discoveryChecks,
  ...crudChecks,
  ...statusChecks,
  ...patchChecks,
  ...crdChecks,
  ...queryChecks,
  ...watchChecks,
  ...authChecks,
  ...kubectlChecks,
  ...aggregatorChecks,
  ...storageChecks,
  ...nodeChecks,
  ...lifecycleChecks,
];

const ids = new Set<string>();
for (const c of CHECKS) {
  if (ids.has(c.id)) throw new Error(`duplicate differential check id ${c.id}`);
  ids.add(c.id);
}
