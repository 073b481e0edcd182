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

test('AccountChecker: right and wrong credentials; lockout after the threshold, for its duration', () => {
  let now = 1_000_000;
  const c = new AccountChecker(
    () => accounts,
    { threshold: 3, durationSeconds: 60, resetAfterSeconds: 60 },
    () => now,
  );
  assert.deepEqual(c.check('admin', 'pw1'), { ok: true, account: accounts[0] });
  assert.deepEqual(c.check('admin', 'pw2'), { ok: false, locked: false }, "another account's password");
  c.check('admin', 'x');
  c.check('admin', 'y');
  assert.equal(c.isLocked('admin'), true);
  assert.deepEqual(
    c.check('admin', 'pw1'),
    { ok: false, locked: true },
    'locked even with the right password',
  );
  assert.equal(c.check('ro', 'pw2').ok, true, 'other accounts are not affected');
  now += 61_000;
  assert.equal(c.check('admin', 'pw1').ok, true, 'unlocked after the duration');
});

test('AccountChecker: failures older than the reset window do not add up', () => {
  let now = 0;
  const c = new AccountChecker(
    () => accounts,
    { threshold: 2, durationSeconds: 60, resetAfterSeconds: 10 },
    () => now,
  );
  c.check('admin', 'bad');
  now += 11_000;
  c.check('admin', 'bad');
  assert.equal(c.isLocked('admin'), false);
  c.check('admin', 'bad');
  assert.equal(c.isLocked('admin'), true);
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
