import assert from 'node:assert/strict';
import { test } from 'node:test';
import { slim } from '../../../src/kubevirt/informer.ts';

test('slim drops managedFields and the last-applied copy, keeps everything else', () => {
  const vm = {
    metadata: {
      name: 'vm1',
      resourceVersion: '7',
      managedFields: [{ manager: 'kubectl', fieldsV1: { 'f:spec': {} } }],
      annotations: {
        'kubectl.kubernetes.io/last-applied-configuration': '{"huge":true}',
        'bmc.kubevirt.io/boot-override': '{"target":"Pxe"}',
      },
      labels: { app: 'x' },
    },
    spec: { runStrategy: 'Halted' },
  };
  slim(vm);
  assert.deepEqual(vm, {
    metadata: {
      name: 'vm1',
      resourceVersion: '7',
      annotations: { 'bmc.kubevirt.io/boot-override': '{"target":"Pxe"}' },
      labels: { app: 'x' },
    },
    spec: { runStrategy: 'Halted' },
  });
});

test('an annotations map left empty stays (patches then add keys one by one, never replace it)', () => {
  const vm = {
    metadata: { name: 'vm1', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } },
  };
  slim(vm);
  assert.deepEqual(vm.metadata.annotations, {});
});
