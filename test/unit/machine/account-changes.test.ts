/**
 * The account seam's change notification: which accounts a change revokes, how subscribers are
 * told, and the per-protocol limits (what every protocol needs vs what IPMI can carry).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AccountList,
  accountProblem,
  type BmcAccount,
  describeEnded,
  revokedBy,
  validateAccount,
} from '../../../src/machine/index.ts';

const A: BmcAccount = { username: 'admin', password: 'pw-1', role: 'Administrator' };
const B: BmcAccount = { username: 'oper', password: 'pw-2', role: 'Operator' };

test('revokedBy: a changed password, role or name, or a removed account; never an unchanged one', () => {
  assert.deepEqual(revokedBy([A, B], [A, B]), []);
  assert.deepEqual(revokedBy([A, B], [{ ...A }, { ...B }]), [], 'equal values, new objects');
  assert.deepEqual(revokedBy([A, B], [{ ...A, password: 'pw-3' }, B]), ['admin']);
  assert.deepEqual(revokedBy([A, B], [A, { ...B, role: 'ReadOnly' }]), ['oper']);
  assert.deepEqual(revokedBy([A], [{ ...A, username: 'root' }]), ['admin'], 'renamed: the old name');
  assert.deepEqual(revokedBy([A, B], []), ['admin', 'oper']);
  assert.deepEqual(revokedBy([], [A]), [], 'a new account revokes nothing');
});

test('AccountList: set() tells every subscriber, collects what each ended, survives a failing one', () => {
  const list = new AccountList([A]);
  assert.deepEqual(list.source(), [A]);
  const heard: string[][] = [];
  const off1 = list.source.subscribe!((c) => {
    heard.push([...c.revoked]);
    return { protocol: 'ipmi', sessions: 2 };
  });
  const off2 = list.source.subscribe!(() => {
    throw new Error('boom');
  });
  const off3 = list.source.subscribe!(() => ({ protocol: 'redfish', sessions: 1 }));
  const errors: unknown[] = [];
  // The new accounts are in place before subscribers hear of the change.
  const off4 = list.source.subscribe!(() => {
    assert.deepEqual(list.source(), [{ ...A, password: 'new' }]);
    return undefined;
  });
  const r = list.set([{ ...A, password: 'new' }], (e) => errors.push(e));
  assert.deepEqual(r, {
    revoked: ['admin'],
    ended: [
      { protocol: 'ipmi', sessions: 2 },
      { protocol: 'redfish', sessions: 1 },
    ],
  });
  assert.equal(errors.length, 1);
  assert.deepEqual(heard, [['admin']]);
  // Nothing revoked: nobody is called.
  assert.deepEqual(list.set([{ ...A, password: 'new' }]), { revoked: [], ended: [] });
  assert.equal(heard.length, 1);
  for (const off of [off1, off2, off3, off4]) off();
  assert.equal(list.subscribers, 0);
});

test('describeEnded sums per protocol and says nothing when nothing ended', () => {
  assert.equal(describeEnded([]), null);
  assert.equal(describeEnded([{ protocol: 'ipmi', sessions: 0 }]), null);
  assert.equal(
    describeEnded([
      { protocol: 'ipmi', sessions: 2 },
      { protocol: 'redfish', sessions: 1 },
    ]),
    '1 Redfish session and 2 IPMI sessions',
  );
});

test('accountProblem is what every protocol needs; validateAccount adds the IPMI limits', () => {
  const long = { username: 'admin', password: 'p'.repeat(21) };
  assert.equal(accountProblem(long), null, 'Redfish takes a 21-byte password');
  assert.match(validateAccount(long)!, /password is 21 bytes; IPMI allows at most 20/);
  assert.equal(accountProblem({ username: 'u'.repeat(17), password: 'p' }), null);
  assert.match(
    validateAccount({ username: 'u'.repeat(17), password: 'p' })!,
    /username is 17 bytes; IPMI allows at most 16/,
  );
  for (const bad of [
    { username: '', password: 'p' },
    { username: 'a', password: '' },
    { username: 'a b', password: 'p' },
  ])
    assert.ok(accountProblem(bad), JSON.stringify(bad));
  // Multi-byte characters count in bytes: 7 × 3 bytes = 21.
  assert.match(validateAccount({ username: 'admin', password: '€'.repeat(7) })!, /21 bytes/);
});
