import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RedfishError } from '../../../src/redfish/messages.ts';
import { applyPaging, applySelect, expand, NO_QUERY, parseQuery } from '../../../src/redfish/query.ts';

test('parseQuery reads $expand forms, $select paths, $top/$skip; ignores plain parameters', () => {
  assert.equal(parseQuery(''), NO_QUERY);
  assert.deepEqual(parseQuery('?$expand=.($levels=1)').expand, { mode: '.', levels: 1 });
  assert.deepEqual(parseQuery('?$expand=%2A').expand, { mode: '*', levels: 1 });
  assert.deepEqual(parseQuery('?$expand=~($levels=2)').expand, { mode: '~', levels: 2 });
  assert.deepEqual(parseQuery('?$select=PowerState,Boot/BootSourceOverrideMode').select, [
    ['PowerState'],
    ['Boot', 'BootSourceOverrideMode'],
  ]);
  const q = parseQuery('?$top=2&$skip=3&only');
  assert.equal(q.top, 2);
  assert.equal(q.skip, 3);
});

test('parseQuery: bad values are 400, unknown $ options 501', () => {
  const status = (s: string) => {
    try {
      parseQuery(s);
      return 200;
    } catch (e) {
      return (e as RedfishError).status;
    }
  };
  assert.equal(status('?$expand=x'), 400);
  assert.equal(status('?$expand=.($levels=9)'), 400);
  assert.equal(status('?$top=-1'), 400);
  assert.equal(status('?$select=a,,b'), 400);
  assert.equal(status('?$filter=x'), 501);
  assert.equal(status('?$levels=1'), 501);
});

test('applyPaging slices Members, keeps the count, adds nextLink only when more remain', () => {
  const body = { 'Members@odata.count': 3, Members: [1, 2, 3].map((i) => ({ '@odata.id': `/c/${i}` })) };
  const page = applyPaging(body, '/c', { ...NO_QUERY, top: 2, skip: 0 });
  assert.equal((page.Members as unknown[]).length, 2);
  assert.equal(page['Members@odata.count'], 3);
  assert.equal(page['Members@odata.nextLink'], '/c?$skip=2&$top=2');
  const last = applyPaging(body, '/c', { ...NO_QUERY, skip: 2 });
  assert.deepEqual(last.Members, [{ '@odata.id': '/c/3' }]);
  assert.equal('Members@odata.nextLink' in last, false);
});

test('applySelect keeps identity properties and nested paths', () => {
  const out = applySelect({ '@odata.id': '/x', Id: 'x', Name: 'n', A: 1, B: { C: 2, D: 3 }, E: 4 }, [
    ['A'],
    ['B', 'D'],
  ]);
  assert.deepEqual(out, { '@odata.id': '/x', Id: 'x', Name: 'n', A: 1, B: { D: 3 } });
});

// biome-ignore lint/suspicious/noExplicitAny: reading expanded test payloads
type J = Record<string, any>;

test('expand follows subordinate or Links references per mode, never Actions or the top @odata.id', () => {
  const body = {
    '@odata.id': '/s',
    Sub: { '@odata.id': '/sub' },
    Links: { Up: [{ '@odata.id': '/up' }] },
    Actions: { '#X.Y': { target: '/s/act' } },
  };
  const resolve = (uri: string) => ({ '@odata.id': uri, Resolved: true });
  const dot = expand(body, '.', 1, resolve) as J;
  assert.equal(dot.Sub.Resolved, true);
  assert.deepEqual(dot.Links.Up[0], { '@odata.id': '/up' });
  const tilde = expand(body, '~', 1, resolve) as J;
  assert.deepEqual(tilde.Sub, { '@odata.id': '/sub' });
  assert.equal(tilde.Links.Up[0].Resolved, true);
  const star = expand(body, '*', 1, resolve) as J;
  assert.equal(star.Sub.Resolved && star.Links.Up[0].Resolved, true);
  assert.deepEqual(star.Actions, body.Actions);
  assert.equal(star.Resolved, undefined);
  // Unresolvable references stay as they are.
  assert.deepEqual(expand(body, '.', 1, () => null).Sub, { '@odata.id': '/sub' });
});
