/**
 * The agent's reading of credentials: a Secret (or CLI values) over IPMI's limits is served over
 * Redfish and refused over IPMI, with one problem that names the Secret and the limit and never the
 * value; with IPMI off it is no problem at all.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { accountFromSecret, StaticCredentials } from '../../../src/agent/credentials.ts';
import { IpmiServer } from '../../../src/ipmi/server.ts';
import { MemoryMachine } from '../../support/memory-machine.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const secret = (username: string, password: string) => ({
  metadata: { name: 's' },
  data: { username: b64(username), password: b64(password) },
});

describe('credentials over the IPMI limits', () => {
  test('a 21-byte password: the account is kept for Redfish, the problem says IPMI refuses it', () => {
    const pw = 'p'.repeat(21);
    const r = accountFromSecret(secret('admin', pw), 'ns/s');
    assert.deepEqual(r.account, { username: 'admin', password: pw, role: 'Administrator' });
    assert.equal(
      r.problem,
      'Secret ns/s: password is 21 bytes; IPMI allows at most 20: IPMI refuses this account, Redfish serves it',
    );
    assert.ok(!r.problem!.includes(pw));
  });

  test('a 17-byte user name likewise', () => {
    const r = accountFromSecret(secret('u'.repeat(17), 'pw'), 'ns/s');
    assert.ok(r.account);
    assert.match(r.problem!, /username is 17 bytes; IPMI allows at most 16: IPMI refuses this account/);
  });

  test('with IPMI off, long values are no problem', () => {
    const r = accountFromSecret(secret('admin', 'p'.repeat(40)), 'ns/s', { ipmi: false });
    assert.ok(r.account);
    assert.equal(r.problem, null);
  });

  test('an empty password is no account at all', () => {
    const r = accountFromSecret(secret('admin', ''), 'ns/s');
    assert.equal(r.account, null);
    assert.match(r.problem!, /Secret ns\/s: password is missing or empty/);
  });

  test('StaticCredentials: the same rules (the CLI refuses these values before, when IPMI is on)', () => {
    const on = new StaticCredentials('admin', 'p'.repeat(21));
    assert.equal(on.accounts().length, 1);
    assert.match(on.problem()!, /IPMI allows at most 20: IPMI refuses this account, Redfish serves it/);
    // The IPMI server takes such a source (it refuses the account at login) instead of throwing.
    const machine = new MemoryMachine();
    assert.doesNotThrow(() => new IpmiServer({ machine, accounts: on.accounts }));
    machine.dispose();
    const off = new StaticCredentials('admin', 'p'.repeat(21), { ipmi: false });
    assert.equal(off.problem(), null);
    assert.equal(new StaticCredentials('admin', '').accounts().length, 0);
  });
});
