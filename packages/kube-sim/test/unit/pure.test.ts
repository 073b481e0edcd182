import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { evaluateRule } from '../../src/embedded/cel.ts';
import { ApiError } from '../../src/embedded/errors.ts';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from '../../src/embedded/patch.ts';
import { matchLabels, parseFieldSelector, parseLabelSelector } from '../../src/embedded/selectors.ts';
import { jsonPath } from '../../src/embedded/table.ts';
import { selfSignedCert } from '../../src/embedded/tls.ts';
import { imageRepository, isAgentImage } from '../../src/fakecluster/kubelet/types.ts';
import { bootPlan, bootTranscript, SerialConsole } from '../../src/fakecluster/kubevirt/guest.ts';

function code(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiError) return e.code;
    throw e;
  }
  return 0;
}

describe('selectors', () => {
  test('label selector operators, including != and notin matching absent keys', () => {
    const m = (sel: string, labels: Record<string, string>) => matchLabels(parseLabelSelector(sel), labels);
    assert.equal(m('a=1,b', { a: '1', b: 'x' }), true);
    assert.equal(m('a!=1', {}), true);
    assert.equal(m('a notin (1,2)', {}), true);
    assert.equal(m('a in (1,2)', { a: '3' }), false);
    assert.equal(m('!a', { a: '' }), false);
    assert.equal(m('x.io/k==v', { 'x.io/k': 'v' }), true);
    assert.equal(
      code(() => parseLabelSelector('a in (1')),
      400,
    );
    assert.equal(
      code(() => parseLabelSelector('a=b c')),
      400,
    );
  });
  test('field selectors allow only the given fields', () => {
    assert.deepEqual(parseFieldSelector('metadata.name=x', ['metadata.name']), [
      { field: 'metadata.name', op: 'eq', value: 'x' },
    ]);
    assert.equal(
      code(() => parseFieldSelector('spec.x=1', ['metadata.name'])),
      400,
    );
  });
});

describe('patches', () => {
  test('JSON patch ops, a failing test is 422, a non-array is 400, the input is not mutated', () => {
    const doc = { a: [1, 2], b: { c: 1 } };
    const out = applyJsonPatch(doc, [
      { op: 'add', path: '/a/-', value: 3 },
      { op: 'move', from: '/b/c', path: '/d' },
      { op: 'copy', from: '/d', path: '/e' },
      { op: 'remove', path: '/a/0' },
      { op: 'test', path: '/e', value: 1 },
    ]);
    assert.deepEqual(out, { a: [2, 3], b: {}, d: 1, e: 1 });
    assert.deepEqual(doc, { a: [1, 2], b: { c: 1 } });
    assert.equal(
      code(() => applyJsonPatch(doc, [{ op: 'test', path: '/b/c', value: 2 }])),
      422,
    );
    // as upstream's json-patch library: replacing a missing key of an object adds it; a missing parent fails
    assert.deepEqual(applyJsonPatch(doc, [{ op: 'replace', path: '/zz', value: 2 }]).zz, 2);
    assert.equal(
      code(() => applyJsonPatch(doc, [{ op: 'replace', path: '/no/zz', value: 2 }])),
      422,
    );
    assert.equal(
      code(() => applyJsonPatch(doc, { op: 'add' })),
      400,
    );
  });
  test('merge patch and strategic merge patch', () => {
    assert.deepEqual(applyMergePatch({ a: 1, b: [1], c: { d: 1 } }, { a: null, b: [2], c: { e: 2 } }), {
      b: [2],
      c: { d: 1, e: 2 },
    });
    const d = {
      spec: {
        containers: [
          { name: 'a', image: '1' },
          { name: 'b', image: '1', env: [{ name: 'X', value: '1' }] },
        ],
      },
    };
    const p = applyStrategicMergePatch(d, {
      spec: {
        containers: [
          { name: 'b', env: [{ name: 'Y', value: '2' }] },
          { name: 'c', image: '3' },
          { name: 'a', $patch: 'delete' },
        ],
      },
    });
    assert.deepEqual(p.spec.containers, [
      {
        name: 'b',
        image: '1',
        // upstream's order: new items before server-only ones that follow no named item
        env: [
          { name: 'Y', value: '2' },
          { name: 'X', value: '1' },
        ],
      },
      { name: 'c', image: '3' },
    ]);
    assert.deepEqual(
      applyStrategicMergePatch({ metadata: { finalizers: ['a'] } }, { metadata: { finalizers: ['b'] } })
        .metadata.finalizers,
      ['b', 'a'],
    );
  });
});

describe('guest boot', () => {
  // biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
  const src = (v: Record<string, any>) =>
    v.containerDisk ? `containerDisk ${v.containerDisk.image}` : v.dataVolume ? 'http://x/y.iso' : undefined;
  test('bootOrder decides; devices without one are skipped when any has one; interfaces boot only with one', () => {
    const spec = {
      domain: {
        devices: {
          disks: [
            { name: 'root', disk: {}, bootOrder: 2 },
            { name: 'cd', cdrom: {}, bootOrder: 1 },
            { name: 'data', disk: {} },
          ],
          interfaces: [{ name: 'default' }],
        },
      },
      volumes: [
        { name: 'root', containerDisk: { image: 'img' } },
        { name: 'data', containerDisk: { image: 'd' } },
      ],
    };
    const plan = bootPlan('ns', 'vm', spec, src);
    assert.equal(plan.firmware, 'BIOS');
    assert.deepEqual(
      plan.order.map((d) => d.name),
      ['cd', 'root'],
    );
    assert.equal(plan.chosen?.name, 'root', 'the empty CD-ROM is skipped');
    const lines = bootTranscript(plan, 'vm');
    assert.ok(lines.includes("Boot failed: CD-ROM 'cd' (empty): no bootable medium"));
    assert.ok(lines.includes("Booting from disk 'root' (containerDisk img)"));
    assert.equal(lines.at(-1), 'vm login: ');
  });
  test('the console echoes typed characters but not the password', () => {
    let out = '';
    const c = new SerialConsole('h', () => {});
    c.subscribe((d) => {
      out += d.toString();
    });
    c.atLogin();
    c.input(Buffer.from('me\rpw\r'));
    assert.equal(out.replace(/Last login: [^\r]*\r\n/, ''), 'me\r\nPassword: \r\n[me@h ~]$ ');
  });
});

describe('misc', () => {
  test('jsonPath subset used by printer columns', () => {
    const o = {
      status: {
        conditions: [
          { type: 'A', status: 'False' },
          { type: 'Ready', status: 'True' },
        ],
        interfaces: [{ ipAddress: '1.2.3.4' }],
      },
    };
    assert.deepEqual(jsonPath(o, ".status.conditions[?(@.type=='Ready')].status"), ['True']);
    assert.deepEqual(jsonPath(o, '.status.interfaces[0].ipAddress'), ['1.2.3.4']);
  });
  test('agent image detection by repository', () => {
    assert.equal(imageRepository('r.io:5000/a/kubevirtbmc:v1'), 'r.io:5000/a/kubevirtbmc');
    assert.equal(isAgentImage('ghcr.io/x/kubevirtbmc@sha256:00'), true);
    assert.equal(isAgentImage('kubevirtbmc'), true);
    assert.equal(isAgentImage('ghcr.io/x/kubevirtbmc-controller:v1'), false);
  });
  test('CEL rules with integers and transition rules', () => {
    assert.deepEqual(evaluateRule('self.a <= self.b', { a: 1, b: 2 }, undefined), { ok: true });
    assert.equal(evaluateRule('self.a > 5', { a: 1 }, undefined).ok, false);
    assert.equal(evaluateRule('self == oldSelf', 'x', 'y').ok, false);
    assert.match(evaluateRule('self.(', {}, undefined).error ?? '', /compilation failed/);
  });
  test('the serving certificate is valid for 127.0.0.1 and is its own CA', () => {
    const c = new X509Certificate(selfSignedCert().cert);
    assert.equal(c.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(c.ca, true);
    assert.equal(c.verify(c.publicKey), true);
  });
});
