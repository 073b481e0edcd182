/**
 * A credentials Secret IPMI cannot carry (password over 20 bytes, user name over 16): Redfish still
 * serves it (the agent runs), IPMI refuses it, and the BMC's conditions and Events say so, naming the
 * Secret and the limit. With IPMI off the same Secret is simply valid; with Redfish off it is unusable.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Reconciler } from '../../../src/controller/reconciler.ts';
import type { VirtualMachineBMC } from '../../../src/controller/types.ts';
import { bmc, FakeCluster, secret, vm } from './fake-cluster.ts';

const NS = 'lab';

function setup(data: Record<string, string>, extra: Record<string, unknown> = {}) {
  const c = new FakeCluster();
  c.put(vm(NS, 'vm1'));
  c.put(secret(NS, 'vm1-auth', data));
  c.put(bmc(NS, 'vm1-bmc', 'vm1', 'vm1-auth', extra));
  const r = new Reconciler({ placement: 'per-vm', agent: { image: 'img:1' } });
  return { c, run: () => r.reconcileNamespace(NS, c, c) };
}

function cond(c: FakeCluster, type: string) {
  const b = c.get('VirtualMachineBMC', NS, 'vm1-bmc') as VirtualMachineBMC;
  return b.status!.conditions!.find((x) => x.type === type)!;
}

describe('credentials over the IPMI limits', () => {
  for (const [what, data, re] of [
    [
      'a 21-byte password',
      { username: 'admin', password: 'p'.repeat(21) },
      /^Secret lab\/vm1-auth: password is 21 bytes; IPMI allows at most 20: IPMI refuses every login to this BMC, Redfish serves the account; shorten it, or set spec\.ipmi\.enabled: false$/,
    ],
    [
      'a 17-byte user name',
      { username: 'u'.repeat(17), password: 'pw' },
      /^Secret lab\/vm1-auth: username is 17 bytes; IPMI allows at most 16: IPMI refuses/,
    ],
  ] as const) {
    test(`${what}: SecretAvailable and Ready False (IPMICredentialsTooLong), a Warning Event, the agent runs`, async () => {
      const { c, run } = setup(data);
      const r = await run();
      assert.deepEqual(r.errors, []);
      const sc = cond(c, 'SecretAvailable');
      assert.equal(sc.status, 'False');
      assert.equal(sc.reason, 'IPMICredentialsTooLong');
      assert.match(sc.message, re);
      assert.ok(!sc.message.includes('p'.repeat(21)), 'the message never quotes the password');
      const ready = cond(c, 'Ready');
      assert.equal(ready.status, 'False');
      assert.equal(ready.reason, 'IPMICredentialsTooLong');
      // Redfish serves the account, so the agent is scaled up.
      assert.equal(c.get('Deployment', NS, 'vbmc-vm1-bmc')!.spec.replicas, 1);
      const warnings = c.events.filter((e) => e.type === 'Warning' && e.reason === 'IPMICredentialsTooLong');
      assert.ok(warnings.length >= 1, JSON.stringify(c.events));
      assert.match(warnings[0]!.message, /Secret lab\/vm1-auth: .* IPMI allows at most (20|16)/);
      // Fixing the Secret clears it.
      c.put(secret(NS, 'vm1-auth', { username: 'admin', password: 'p'.repeat(20) }));
      await run();
      assert.equal(cond(c, 'SecretAvailable').status, 'True');
    });
  }

  test('with IPMI off, a 32-byte password is valid (Redfish only has no such limit)', async () => {
    const { c, run } = setup({ username: 'admin', password: 'p'.repeat(32) }, { ipmi: { enabled: false } });
    await run();
    assert.equal(cond(c, 'SecretAvailable').status, 'True');
    assert.equal(cond(c, 'SecretAvailable').reason, 'SecretValid');
    assert.equal(c.get('Deployment', NS, 'vbmc-vm1-bmc')!.spec.replicas, 1);
  });

  test('with Redfish off, nothing could serve it: SecretInvalid, agent scaled down', async () => {
    const { c, run } = setup(
      { username: 'admin', password: 'p'.repeat(21) },
      { redfish: { enabled: false } },
    );
    await run();
    const sc = cond(c, 'SecretAvailable');
    assert.equal(sc.reason, 'SecretInvalid');
    assert.match(sc.message, /password is 21 bytes; IPMI allows at most 20/);
    assert.equal(c.get('Deployment', NS, 'vbmc-vm1-bmc')!.spec.replicas, 0);
  });

  test('an empty password is unusable on every protocol: SecretInvalid, agent scaled down', async () => {
    const { c, run } = setup({ username: 'admin', password: '' });
    await run();
    assert.equal(cond(c, 'SecretAvailable').reason, 'SecretInvalid');
    assert.match(cond(c, 'SecretAvailable').message, /password is missing or empty/);
    assert.equal(c.get('Deployment', NS, 'vbmc-vm1-bmc')!.spec.replicas, 0);
  });
});
