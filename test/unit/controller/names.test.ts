import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contains, driftOf } from '../../../src/controller/drift.ts';
import { bmcObjectName, dnsLabel } from '../../../src/controller/names.ts';

test('object names come from the BMC, are DNS-1035 labels and stay distinct', () => {
  assert.equal(bmcObjectName('vm1-bmc'), 'vbmc-vm1-bmc');
  const long = bmcObjectName('a'.repeat(100));
  assert.ok(long.length <= 63);
  assert.match(long, /^[a-z]([-a-z0-9]*[a-z0-9])?$/);
  assert.notEqual(bmcObjectName('a.b'), bmcObjectName('a-b'));
  assert.match(bmcObjectName('a.b'), /^[a-z]([-a-z0-9]*[a-z0-9])?$/);
  assert.equal(dnsLabel('ok-name', 'x'), 'ok-name');
});

test('server defaults are not drift; changed or extra list items are', () => {
  assert.ok(contains({ a: 1, b: [{ c: 2 }] }, { a: 1, z: 9, b: [{ c: 2, d: 3 }] }));
  assert.ok(!contains({ b: [{ c: 2 }] }, { b: [{ c: 2 }, { c: 3 }] }));
  assert.ok(
    !contains(
      { securityContext: { runAsNonRoot: true } },
      { securityContext: { runAsNonRoot: true, privileged: true } },
    ),
  );
  const desired = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 's', labels: { a: 'b' } },
    spec: { ports: [{ port: 623 }] },
  };
  const live = {
    ...desired,
    metadata: { ...desired.metadata, labels: { a: 'b', extra: 'ok' } },
    spec: { clusterIP: '10.0.0.1', ports: [{ port: 623, nodePort: 1 }] },
  };
  assert.equal(driftOf(desired, live), null);
  assert.equal(driftOf(desired, { ...live, spec: { ports: [{ port: 624 }] } }), 'spec changed');
});
