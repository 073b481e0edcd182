// The embedded cluster's decoder of Kubernetes protobuf bodies (packages/kube-sim/src/embedded/protobuf/), byte by byte.
// Bodies are built here field by field with the wire format's rules; packages/kube-sim/test/embedded/kubectl
// drives the same decoder with the real kubectl.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { prng } from '../../../../bench/lib/fuzz.ts';
import { bytes, entry, envelope, key, str, varint, vint } from '../../../../test/support/kube-protobuf.ts';
import { decodeKubeProtobuf, ProtobufDecodeError } from '../../src/embedded/protobuf/decode.ts';
import { readFields, readVarint, WireError } from '../../src/embedded/protobuf/wire.ts';

/** ObjectMeta as Go writes it: every non-pointer field, empty or not. */
const meta = (name: string, namespace = '', extra: number[] = []) =>
  bytes(1, [
    ...str(1, name),
    ...str(2, ''),
    ...str(3, namespace),
    ...str(4, ''),
    ...str(5, ''),
    ...str(6, ''),
    ...vint(7, 0),
    ...bytes(8, []),
    ...extra,
  ]);

function refused(body: Buffer, unsupported: boolean, message?: RegExp): void {
  assert.throws(
    () => decodeKubeProtobuf(body),
    (err: unknown) => {
      assert.ok(err instanceof ProtobufDecodeError, `not a ProtobufDecodeError: ${String(err)}`);
      assert.equal(err.unsupported, unsupported, err.message);
      if (message) assert.match(err.message, message);
      return true;
    },
  );
}

describe('wire format', () => {
  test('varints: one byte, several bytes, 64-bit negatives; too long or cut short is an error', () => {
    assert.deepEqual(readVarint(Uint8Array.from([0x05]), 0), [5n, 1]);
    assert.deepEqual(readVarint(Uint8Array.from([0xac, 0x02]), 0), [300n, 2]);
    assert.deepEqual(readVarint(Uint8Array.from(varint(-1)), 0), [0xffffffffffffffffn, 10]);
    assert.throws(() => readVarint(Uint8Array.from([0x80, 0x80]), 0), WireError);
    assert.throws(() => readVarint(Uint8Array.from(Array(11).fill(0xff)), 0), WireError);
  });

  test('fields: numbers, wire types and payloads in order; lengths past the end and groups are errors', () => {
    const f = readFields(Uint8Array.from([...vint(1, 7), ...str(2, 'ab'), ...key(3, 5), 1, 2, 3, 4]));
    assert.deepEqual(
      f.map((x) => [x.num, x.wire]),
      [
        [1, 0],
        [2, 2],
        [3, 5],
      ],
    );
    assert.equal(f[0]!.value, 7n);
    assert.equal(Buffer.from(f[1]!.value as Uint8Array).toString(), 'ab');
    assert.throws(() => readFields(Uint8Array.from([...key(2, 2), 5, 0x61])), WireError);
    assert.throws(() => readFields(Uint8Array.from([...key(2, 3)])), WireError);
    assert.throws(() => readFields(Uint8Array.from([0x00])), WireError); // field number 0
  });
});

describe('decoding objects', () => {
  test('a Secret: data map as base64, stringData, type; empty metadata fields left out', () => {
    const obj = decodeKubeProtobuf(
      envelope('v1', 'Secret', [
        ...meta('bmc-auth', 'vms'),
        ...entry(2, 'username', bytes(2, [...Buffer.from('admin')])),
        ...entry(2, 'password', bytes(2, [0x00, 0xff, 0x41])),
        ...str(3, 'Opaque'),
        ...entry(4, 'note', str(2, 'plain')),
      ]),
    );
    assert.deepEqual(obj, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'bmc-auth', namespace: 'vms' },
      data: { username: Buffer.from('admin').toString('base64'), password: 'AP9B' },
      type: 'Opaque',
      stringData: { note: 'plain' },
    });
  });

  test('pointer fields keep a zero (replicas: 0, immutable: false); plain zero fields are left out', () => {
    const secret = decodeKubeProtobuf(envelope('v1', 'ConfigMap', [...meta('c'), ...vint(4, 0)]));
    assert.equal(secret.immutable, false);
    const d = decodeKubeProtobuf(
      envelope('apps/v1', 'Deployment', [
        ...meta('web', 'team'),
        ...bytes(2, [
          ...vint(1, 0),
          ...bytes(2, entry(1, 'app', str(2, 'web'))),
          ...bytes(3, [
            ...meta('', '', entry(11, 'app', str(2, 'web'))),
            ...bytes(2, [
              ...bytes(2, [
                ...str(1, 'nginx'),
                ...str(2, 'nginx:1.27'),
                ...str(3, 'sleep'),
                ...str(3, '100'),
                ...bytes(6, [...str(1, ''), ...vint(2, 0), ...vint(3, 80), ...str(4, 'TCP')]),
                ...bytes(8, entry(1, 'cpu', bytes(2, str(1, '500m')))),
                ...vint(16, 0),
              ]),
              ...str(3, ''),
              ...vint(11, 0), // hostNetwork: false, not in the schema but empty
            ]),
          ]),
          ...bytes(4, [
            ...str(1, 'RollingUpdate'),
            ...bytes(2, [...bytes(1, [...vint(1, 1), ...str(3, '25%')])]),
          ]),
          ...vint(5, 0),
        ]),
        ...bytes(3, [...vint(1, 0), ...vint(2, 0)]), // status: ignored
      ]),
    );
    assert.deepEqual(d, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'team' },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            containers: [
              {
                name: 'nginx',
                image: 'nginx:1.27',
                command: ['sleep', '100'],
                ports: [{ containerPort: 80, protocol: 'TCP' }],
                resources: { limits: { cpu: '500m' } },
              },
            ],
          },
        },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%' } },
      },
    });
  });

  test('a Service: targetPort as a number or a name; a negative int32 arrives as a negative number', () => {
    const s = decodeKubeProtobuf(
      envelope('v1', 'Service', [
        ...meta('web'),
        ...bytes(2, [
          ...bytes(1, [...str(2, 'TCP'), ...vint(3, 8080), ...bytes(4, [...vint(1, 0), ...vint(2, 80)])]),
          ...bytes(1, [...str(1, 'ipmi'), ...vint(3, 623), ...bytes(4, [...vint(1, 1), ...str(3, 'ipmi')])]),
          ...entry(2, 'app', str(2, 'web')),
          ...str(4, 'NodePort'),
          ...vint(12, -1),
        ]),
      ]),
    );
    assert.deepEqual(s.spec, {
      ports: [
        { protocol: 'TCP', port: 8080, targetPort: 80 },
        { name: 'ipmi', port: 623, targetPort: 'ipmi' },
      ],
      selector: { app: 'web' },
      type: 'NodePort',
      healthCheckNodePort: -1,
    });
  });

  test('timestamps become RFC 3339 with second precision; a Role and a RoleBinding', () => {
    const ns = decodeKubeProtobuf(
      envelope('v1', 'Namespace', [...meta('x', '', bytes(9, [...vint(1, 1795000000), ...vint(2, 5)]))]),
    );
    assert.deepEqual(ns.metadata, { name: 'x', deletionTimestamp: '2026-11-18T11:06:40Z' });
    const role = decodeKubeProtobuf(
      envelope('rbac.authorization.k8s.io/v1', 'Role', [
        ...meta('r'),
        ...bytes(2, [...str(1, 'get'), ...str(2, ''), ...str(3, 'secrets'), ...str(4, 'bmc-auth')]),
      ]),
    );
    assert.deepEqual(role.rules, [
      { verbs: ['get'], apiGroups: [''], resources: ['secrets'], resourceNames: ['bmc-auth'] },
    ]);
    const rb = decodeKubeProtobuf(
      envelope('rbac.authorization.k8s.io/v1', 'RoleBinding', [
        ...meta('rb'),
        ...bytes(2, [...str(1, 'ServiceAccount'), ...str(2, ''), ...str(3, 'agent'), ...str(4, 'vms')]),
        ...bytes(3, [...str(1, 'rbac.authorization.k8s.io'), ...str(2, 'Role'), ...str(3, 'r')]),
      ]),
    );
    assert.deepEqual(rb.subjects, [{ kind: 'ServiceAccount', name: 'agent', namespace: 'vms' }]);
    assert.deepEqual(rb.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'r' });
  });
});

describe('what is refused', () => {
  test('a field the schemas do not know is refused when it carries something (nothing is dropped silently)', () => {
    // PodSpec.hostname (16) is not decoded here
    const body = envelope('apps/v1', 'Deployment', [
      ...meta('web'),
      ...bytes(2, [...bytes(3, [...bytes(2, [...str(16, 'db-1')])])]),
    ]);
    refused(body, true, /Deployment\.spec\.template\.spec: field 16 of PodSpec is not supported/);
    // the same field empty, as Go writes it when unset, is fine
    assert.ok(
      decodeKubeProtobuf(
        envelope('apps/v1', 'Deployment', [
          ...meta('web'),
          ...bytes(2, [...bytes(3, [...bytes(2, str(16, ''))])]),
        ]),
      ),
    );
  });

  test('kinds without a schema and content encodings are unsupported (415); broken bodies are malformed (400)', () => {
    refused(envelope('batch/v1', 'Job', meta('j')), true, /batch\/v1 Job cannot be sent as protobuf/);
    const encoded = Buffer.concat([
      Buffer.from([0x6b, 0x38, 0x73, 0x00]),
      Buffer.from([...bytes(1, [...str(1, 'v1'), ...str(2, 'Secret')]), ...str(3, 'gzip')]),
    ]);
    refused(encoded, true, /content encoding "gzip"/);
    refused(Buffer.from('{"kind":"Secret"}'), false, /k8s\\0 prefix/);
    refused(Buffer.from([0x6b, 0x38, 0x73, 0x00]), false, /no apiVersion or kind/);
    refused(envelope('v1', 'Secret', [...meta('s'), ...key(3, 2), 40, 0x41]), false, /length past the end/);
    refused(envelope('v1', 'Secret', [...vint(1, 5)]), false, /wire type 0, expected 2/);
    refused(envelope('v1', 'Secret', [...meta('s'), ...bytes(3, [0xc3, 0x28])]), false, /not UTF-8/);
  });

  test('20,000 random mutations of a valid Secret: every failure is a ProtobufDecodeError, nothing else escapes', () => {
    const valid = envelope('v1', 'Secret', [
      ...meta('bmc-auth', 'vms', entry(11, 'a', str(2, 'b'))),
      ...entry(2, 'password', bytes(2, [...Buffer.from('pw')])),
      ...str(3, 'Opaque'),
    ]);
    assert.equal((decodeKubeProtobuf(valid).metadata as { name: string }).name, 'bmc-auth');
    const rnd = prng(4242);
    let decoded = 0;
    for (let i = 0; i < 20_000; i++) {
      const b = Buffer.from(valid);
      const n = 1 + Math.floor(rnd() * 4);
      for (let k = 0; k < n; k++) b[4 + Math.floor(rnd() * (b.length - 4))] = Math.floor(rnd() * 256);
      const cut = rnd() < 0.2 ? b.subarray(0, Math.floor(rnd() * b.length)) : b;
      try {
        decodeKubeProtobuf(cut);
        decoded++;
      } catch (err) {
        assert.ok(err instanceof ProtobufDecodeError, `${String(err)} for ${cut.toString('hex')}`);
      }
    }
    assert.ok(decoded > 0, 'some mutations still decode');
  });
});
