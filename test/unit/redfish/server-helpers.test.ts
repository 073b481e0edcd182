import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BackendUnavailableError,
  ConflictError,
  InvalidArgumentError,
  InvalidStateError,
  NotFoundError,
  NotSupportedError,
} from '../../../src/machine/index.ts';
import { etagListMatches, render } from '../../../src/redfish/etag.ts';
import { machineErrorToRedfish, normalisePath } from '../../../src/redfish/server.ts';
import { safeId } from '../../../src/redfish/topology.ts';
import { MemoryMachine } from '../../support/memory-machine.ts';
import { startRedfish } from '../../support/redfish-service.ts';

test('normalisePath: trailing slashes, the service root, decoding, traversal refused', () => {
  assert.equal(normalisePath('/redfish/v1/Systems/'), '/redfish/v1/Systems');
  assert.equal(normalisePath('/redfish/v1'), '/redfish/v1/');
  assert.equal(normalisePath('/redfish/v1/'), '/redfish/v1/');
  assert.equal(normalisePath('/redfish/'), '/redfish');
  assert.equal(normalisePath('/redfish/v1/Systems/ns.vm%2D1'), '/redfish/v1/Systems/ns.vm-1');
  assert.equal(normalisePath('/redfish/v1/Systems/../AccountService'), null);
  assert.equal(normalisePath('/redfish/v1//Systems'), null);
  assert.equal(normalisePath('/redfish/%E0%A4%A'), null);
});

test('render: @odata.etag equals the strong ETag, which changes exactly with the content', () => {
  const a = render({ '@odata.id': '/x', V: 1 });
  assert.match(a.etag, /^"[A-Za-z0-9_-]+"$/);
  assert.equal(JSON.parse(a.json)['@odata.etag'], a.etag);
  assert.equal(render({ '@odata.id': '/x', V: 1 }).etag, a.etag);
  assert.notEqual(render({ '@odata.id': '/x', V: 2 }).etag, a.etag);
  assert.equal(
    '@odata.etag' in JSON.parse(render({ v1: '/redfish/v1/' }).json),
    false,
    'not on non-resources',
  );
});

test('etagListMatches: strong comparison, lists and *', () => {
  assert.equal(etagListMatches('"a"', '"a"'), true);
  assert.equal(etagListMatches('"b", "a"', '"a"'), true);
  assert.equal(etagListMatches('*', '"a"'), true);
  assert.equal(etagListMatches('W/"a"', '"a"'), false);
  assert.equal(etagListMatches(undefined, '"a"'), false);
});

test('machine errors map to the table in src/machine/errors.ts', () => {
  const cases: [Error, number][] = [
    [new NotSupportedError('x'), 400],
    [new InvalidStateError('x'), 409],
    [new ConflictError('x'), 409],
    [new InvalidArgumentError('x'), 400],
    [new NotFoundError('x'), 404],
    [new BackendUnavailableError('x'), 503],
  ];
  for (const [err, status] of cases) {
    const r = machineErrorToRedfish(err as never);
    assert.equal(r.status, status, err.name);
    assert.equal(r.infos[0]?.Resolution, 'x', 'the machine says why');
  }
  assert.equal(machineErrorToRedfish(new BackendUnavailableError('x')).headers['Retry-After'], '5');
});

test('safeId keeps ids to one URI-safe segment', () => {
  assert.equal(safeId('eth0'), 'eth0');
  assert.equal(safeId('a/b c'), 'a-b-c');
  assert.equal(safeId(''), '-');
});

test('aggregate mode follows the machine list as it changes', async () => {
  const fx = await startRedfish({ aggregate: [{ identity: { namespace: 'ns', name: 'a' } }] });
  try {
    assert.equal((await fx.request('GET', '/redfish/v1/Systems')).json['Members@odata.count'], 1);
    const b = new MemoryMachine({ identity: { namespace: 'ns', name: 'b' } });
    fx.machines.push(b);
    const list = await fx.request('GET', '/redfish/v1/Systems');
    assert.deepEqual(
      list.json.Members.map((m: { '@odata.id': string }) => m['@odata.id']),
      ['/redfish/v1/Systems/ns.a', '/redfish/v1/Systems/ns.b'],
    );
    assert.equal(
      (await fx.request('GET', '/redfish/v1/Managers/ns.b')).json.Links.ManagerForServers[0]['@odata.id'],
      '/redfish/v1/Systems/ns.b',
    );
    fx.machines.splice(0, 1);
    assert.equal((await fx.request('GET', '/redfish/v1/Systems/ns.a')).status, 404);
  } finally {
    await fx.close();
  }
});

test('a machine whose backend is unavailable answers 503 with Retry-After, not 500', async () => {
  const fx = await startRedfish();
  try {
    fx.machine.getPowerState = () => {
      throw new BackendUnavailableError('the API server is not reachable');
    };
    const r = await fx.request('GET', '/redfish/v1/Systems/1');
    assert.equal(r.status, 503);
    assert.equal(r.headers['retry-after'], '5');
    assert.equal(r.json.error.code, 'Base.1.22.ServiceTemporarilyUnavailable');
  } finally {
    await fx.close();
  }
});
