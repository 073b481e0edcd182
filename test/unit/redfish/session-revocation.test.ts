/**
 * Rotating a password ends the Redfish sessions opened with the old one: the session store on its
 * own (test/interop/redfish/rotation.test.ts drives a live service with curl).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AccountList, type BmcAccount } from '../../../src/machine/index.ts';
import { SessionStore } from '../../../src/redfish/sessions.ts';

const OLD: BmcAccount = { username: 'admin', password: 'old-password', role: 'Administrator' };
const NEW: BmcAccount = { username: 'admin', password: 'new-password', role: 'Administrator' };
const OTHER: BmcAccount = { username: 'reader', password: 'reader-pass', role: 'ReadOnly' };

describe('SessionStore follows account changes', () => {
  test('a changed password, role or name ends that account’s sessions, and only those', () => {
    const list = new AccountList([OLD, OTHER]);
    const store = new SessionStore(1800, 16);
    const off = store.follow(list.source);
    const a1 = store.create('admin', '127.0.0.1')!;
    const a2 = store.create('admin', '127.0.0.2')!;
    const r = store.create('reader', '127.0.0.1')!;
    assert.deepEqual(list.set([OLD, OTHER]), { revoked: [], ended: [] }, 'same accounts: nothing ends');
    assert.ok(store.touch(a1.token));
    assert.deepEqual(list.set([NEW, OTHER]), {
      revoked: ['admin'],
      ended: [{ protocol: 'redfish', sessions: 2 }],
    });
    assert.equal(store.touch(a1.token), undefined);
    assert.equal(store.touch(a2.token), undefined);
    assert.ok(store.touch(r.token), "another account's session stays");
    // A role change and a removed account revoke too.
    assert.deepEqual(list.set([NEW, { ...OTHER, role: 'Operator' }]).revoked, ['reader']);
    assert.equal(store.touch(r.token), undefined);
    const n = store.create('admin', '127.0.0.1')!;
    assert.deepEqual(list.set([]).ended, [{ protocol: 'redfish', sessions: 1 }]);
    assert.equal(store.touch(n.token), undefined);
    off();
    assert.equal(list.subscribers, 0);
  });

  test('a plain function source (no changes announced) is accepted and followed by nothing', () => {
    const store = new SessionStore(1800, 16);
    const off = store.follow(() => [OLD]);
    off();
    assert.equal(store.revokeUsers(['admin']), 0);
  });
});
