import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BmcAccount } from '../../../src/machine/index.ts';
import { AccountChecker, parseBasic, SessionStore, sameSecret } from '../../../src/redfish/sessions.ts';

const accounts: BmcAccount[] = [
  { username: 'admin', password: 'pw1', role: 'Administrator' },
  { username: 'ro', password: 'pw2', role: 'ReadOnly' },
];

test('sameSecret compares whole values of any length', () => {
  assert.equal(sameSecret('abc', 'abc'), true);
  assert.equal(sameSecret('abc', 'abd'), false);
  assert.equal(sameSecret('abc', 'abcd'), false);
  assert.equal(sameSecret('', ''), true);
});

test('parseBasic decodes user:password (the password may contain colons) and rejects garbage', () => {
  assert.deepEqual(parseBasic(`Basic ${Buffer.from('u:p:q').toString('base64')}`), {
    username: 'u',
    password: 'p:q',
  });
  assert.equal(parseBasic('Bearer x'), null);
  assert.equal(parseBasic(`Basic ${Buffer.from('nocolon').toString('base64')}`), null);
  assert.equal(parseBasic(undefined), null);
});

test('AccountChecker: right and wrong credentials (the failed-login budgets are login-policy.test.ts)', () => {
  const c = new AccountChecker(() => accounts);
  assert.deepEqual(c.verify('admin', 'pw1'), accounts[0]);
  assert.equal(c.verify('admin', 'pw2'), null, "another account's password");
  assert.equal(c.verify('Admin', 'pw1'), null, 'user names are case-sensitive');
  assert.equal(c.verify('nobody', 'pw1'), null);
  assert.equal(c.isAccount('ro'), true);
  assert.equal(c.isAccount('nobody'), false);
  assert.equal(c.find('ro')?.role, 'ReadOnly');
});

test('SessionStore: tokens are random hex, looked up by hash, expire when idle, bounded, revocable', () => {
  let now = 0;
  const s = new SessionStore(10, 2, () => now);
  const a = s.create('admin', '127.0.0.1')!;
  const b = s.create('admin', '127.0.0.1')!;
  assert.match(a.token, /^[0-9a-f]{64}$/);
  assert.notEqual(a.token, b.token);
  assert.equal(JSON.stringify(a.session).includes(a.token), false, 'the session does not keep the token');
  assert.equal(s.create('admin', '127.0.0.1'), null, 'bounded');
  now += 9_000;
  assert.equal(s.touch(a.token)?.id, a.session.id, 'use refreshes the idle timer');
  now += 9_000;
  assert.ok(s.touch(a.token));
  assert.equal(s.touch(b.token), undefined, 'b idled out');
  assert.equal(s.delete(a.session.id), true);
  assert.equal(s.touch(a.token), undefined, 'revoked');
  assert.ok(s.create('admin', '127.0.0.1'));
});
