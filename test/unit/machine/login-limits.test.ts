/**
 * The failed-login policy both protocols apply (src/machine/login-limits.ts; docs/security.md,
 * "Failed logins"): budgets per source address and per user name, the sources an account trusts,
 * bounded tables that a flood of names or addresses cannot make forget a hot account, the limits
 * and their validation, and how a user name is written in a log. Each protocol's own test shows
 * what a refusal looks like on its wire (test/unit/ipmi/login-policy.test.ts,
 * test/unit/redfish/login-policy.test.ts). The clock is a variable, so nothing here waits.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BmcAccount } from '../../../src/machine/index.ts';
import {
  FailureBudget,
  LOGIN_LIMIT_DEFAULTS,
  LoginGuard,
  type LoginLimits,
  loggableName,
  refusalReason,
  resolveLoginLimits,
  sourceKey,
} from '../../../src/machine/login-limits.ts';

const ADMIN: BmcAccount = { username: 'admin', password: 'Adm1n-pass', role: 'Administrator' };

/**
 * A guard as a protocol drives it: `try_` checks the budgets first and, only when they allow it,
 * "checks the password" — `right` says whether it matches (a name that is no account never does).
 * The result is what the client would learn: logged in, wrong, or refused with the seconds to wait.
 */
function rig(limits: LoginLimits = {}, accounts: BmcAccount[] = [ADMIN]) {
  const clock = { now: 1_000_000 };
  const state = { accounts };
  const guard = new LoginGuard(
    limits,
    () => state.accounts,
    () => clock.now,
  );
  const try_ = (address: string, right: boolean, user = 'admin'): string => {
    const refusal = guard.check(address, user);
    if (refusal) return `refused ${refusal.budget} ${Math.ceil(refusal.retryAfterMs / 1000)} s`;
    if (right && state.accounts.some((a) => a.username === user)) {
      guard.succeeded(address, user);
      return 'ok';
    }
    guard.failed(address, user);
    return 'wrong';
  };
  return { clock, state, guard, try_ };
}

describe('per-source budget', () => {
  test('6 failures from one address: it is refused, even with the right password, until a token returns', () => {
    const r = rig();
    for (let i = 0; i < 6; i++) assert.equal(r.try_('10.0.0.2', false), 'wrong');
    assert.equal(r.try_('10.0.0.2', true), 'refused source 5 s', 'refused, not checked');
    assert.equal(r.try_('10.0.0.3', true), 'ok', 'another address with the password gets in');
    assert.equal(r.guard.accountOverBudget('admin'), false, 'one address cannot lock the account');
    r.clock.now += 4_999;
    assert.equal(r.try_('10.0.0.2', true), 'refused source 1 s');
    r.clock.now += 1;
    assert.equal(r.try_('10.0.0.2', true), 'ok', 'one failure forgiven after 5 s');
  });

  test('a flood of refused attempts does not extend the delay (they are not counted as guesses)', () => {
    const r = rig();
    for (let i = 0; i < 6; i++) r.try_('10.0.0.2', false);
    for (let i = 0; i < 1000; i++) assert.match(r.try_('10.0.0.2', false), /^refused/);
    r.clock.now += 5_000;
    assert.equal(r.try_('10.0.0.2', true), 'ok');
  });

  test('IPv6 sources share a budget per /64; IPv4-mapped addresses are their IPv4 address', () => {
    assert.equal(sourceKey('2001:db8::1'), sourceKey('2001:db8:0:0:ffff::2'));
    assert.notEqual(sourceKey('2001:db8::1'), sourceKey('2001:db8:0:1::1'));
    assert.equal(sourceKey('2001:DB8::1%eth0'), sourceKey('2001:db8::9'));
    assert.equal(sourceKey('::ffff:10.0.0.1'), '10.0.0.1');
    assert.equal(sourceKey('10.0.0.1'), '10.0.0.1');
    const r = rig();
    for (let i = 0; i < 6; i++) r.try_(`2001:db8::${i + 1}`, false);
    assert.equal(r.try_('2001:db8::ff', true), 'refused source 5 s', 'a fresh address of the same /64');
    assert.equal(r.try_('2001:db8:0:1::1', true), 'ok');
    const v4 = rig();
    for (let i = 0; i < 6; i++) v4.try_('::ffff:10.0.0.7', false);
    assert.equal(v4.try_('10.0.0.7', true), 'refused source 5 s', 'mapped and plain IPv4 are one source');
  });

  test('the table is bounded and keeps the sources over budget when it evicts', () => {
    const r = rig({ maxSources: 100, accountBurst: 0 });
    for (let i = 0; i < 6; i++) r.try_('10.9.9.9', false);
    // 1,000 other addresses fail once each (as many addresses as an attacker may have).
    for (let i = 0; i < 1000; i++) r.try_(`10.1.${i >> 8}.${i & 255}`, false);
    assert.ok(r.guard.sources.size <= 100, `${r.guard.sources.size} sources tracked`);
    assert.equal(r.try_('10.9.9.9', true), 'refused source 5 s', 'the guessing address is still refused');
  });
});

describe('per-account budget', () => {
  test('10 failures from 10 addresses: new addresses are refused; addresses the account used are not', () => {
    const r = rig();
    assert.equal(r.try_('192.168.1.10', true), 'ok', 'the console logs in first');
    for (let i = 0; i < 10; i++) assert.equal(r.try_(`10.0.1.${i}`, false), 'wrong');
    assert.equal(r.guard.accountOverBudget('admin'), true);
    assert.equal(r.try_('10.0.2.1', true), 'refused account 6 s');
    assert.equal(r.try_('10.0.1.0', false, 'other'), 'wrong', 'other names are not affected');
    assert.equal(r.try_('192.168.1.10', true), 'ok', 'the console is not locked out');
    r.clock.now += 5_999;
    assert.equal(r.try_('10.0.2.1', true), 'refused account 1 s');
    r.clock.now += 1;
    assert.equal(r.guard.accountOverBudget('admin'), false);
    assert.equal(r.try_('10.0.2.1', true), 'ok', 'a new address after 6 s');
  });

  test('trust: only for the account proven, not for the source budget, and for 24 h', () => {
    const other: BmcAccount = { username: 'ops', password: 'Ops-pass-1', role: 'Operator' };
    const r = rig({}, [ADMIN, other]);
    assert.equal(r.try_('192.168.1.10', true), 'ok');
    for (let i = 0; i < 10; i++) r.try_(`10.0.1.${i}`, false, 'ops');
    assert.equal(r.try_('192.168.1.10', true, 'ops'), 'refused account 6 s', 'trusted for admin, not ops');
    for (let i = 0; i < 6; i++) r.try_('192.168.1.10', false);
    assert.equal(r.try_('192.168.1.10', true), 'refused source 5 s', 'its own budget still applies');
    r.clock.now += 30_000;
    assert.equal(r.try_('192.168.1.10', true), 'ok');
    r.clock.now += 24 * 3600_000 + 1;
    for (let i = 0; i < 10; i++) r.try_(`10.0.3.${i}`, false);
    assert.equal(r.guard.trusted('192.168.1.10', 'admin'), false, 'trust ends after 24 h');
    assert.equal(r.try_('192.168.1.10', true), 'refused account 6 s');
  });

  test('a name that is no account is never trusted', () => {
    const r = rig();
    r.guard.succeeded('10.0.0.2', 'mallory');
    assert.equal(r.guard.trusted('10.0.0.2', 'mallory'), false);
  });

  test('spraying thousands of made-up names from many addresses never resets the admin budget', () => {
    const r = rig({ maxUnknownNames: 1024 });
    for (let i = 0; i < 5; i++) r.try_('10.0.0.2', false);
    // 5000 made-up names, 6 per address (each address within its own budget).
    for (let i = 0; i < 5000; i++) {
      const a = Math.floor(i / 6);
      assert.equal(r.try_(`10.1.${a >> 8}.${a & 255}`, false, `user-${i}`), 'wrong');
    }
    for (let i = 5; i < 10; i++) r.try_('10.0.0.3', false);
    assert.equal(r.try_('10.0.0.4', true), 'refused account 6 s');
    // The made-up names are forgotten oldest first, the account never.
    assert.equal(r.guard.accountOverBudget('user-4999'), false, 'one failure each');
  });

  test('a made-up name gets the same budget and answers as the account (no enumeration)', () => {
    const r = rig({ sourceBurst: 0 });
    const run = (user: string) => Array.from({ length: 12 }, () => r.try_('10.0.0.2', false, user));
    assert.deepEqual(run('mallory'), run('admin'));
  });

  test('a renamed account: the old name is forgotten, the new one starts afresh', () => {
    const r = rig();
    for (let i = 0; i < 10; i++) r.try_(`10.0.1.${i}`, false);
    r.state.accounts = [{ ...ADMIN, username: 'root' }];
    assert.equal(r.try_('10.0.2.1', true, 'root'), 'ok');
    assert.equal(r.guard.accountOverBudget('root'), false);
  });
});

describe('limits', () => {
  test('the defaults: per source 6 then one per 5 s; per name 10 then one per 6 s; 24 h trust', () => {
    assert.deepEqual(resolveLoginLimits({}), {
      sourceBurst: 6,
      sourceRefillMs: 5000,
      maxSources: 4096,
      accountBurst: 10,
      accountRefillMs: 6000,
      maxUnknownNames: 4096,
      trustedSourceMs: 86_400_000,
    });
    assert.deepEqual(resolveLoginLimits({}), LOGIN_LIMIT_DEFAULTS);
  });

  test('0 turns a budget off; bad values are refused with the name of the setting', () => {
    const r = rig({ sourceBurst: 0, accountBurst: 0 });
    for (let i = 0; i < 100; i++) r.try_('10.0.0.2', false);
    assert.equal(r.try_('10.0.0.2', true), 'ok');
    assert.equal(r.guard.sources.size, 0);
    assert.throws(
      () => resolveLoginLimits({ sourceBurst: -1 }),
      /sourceBurst must be an integer of at least 0/,
    );
    assert.throws(
      () => resolveLoginLimits({ accountRefillMs: 0 }),
      /accountRefillMs must be an integer of at least 1/,
    );
    assert.throws(() => resolveLoginLimits({ maxSources: 1.5 }), /maxSources/);
    assert.throws(() => resolveLoginLimits({ trustedSourceMs: Number.NaN }), /trustedSourceMs/);
    assert.throws(() => new LoginGuard({ maxUnknownNames: 0 }, () => []), /maxUnknownNames/);
  });

  test('FailureBudget forgets a key once every failure is forgiven', () => {
    let now = 0;
    const b = new FailureBudget(3, 1000, 10, () => now);
    b.fail('k');
    b.fail('k');
    assert.equal(b.size, 1);
    now += 2000;
    assert.equal(b.waitMs('k'), 0);
    assert.equal(b.size, 0);
  });
});

describe('what a refusal and a user name look like in a log', () => {
  test('refusal reasons name the budget', () => {
    assert.equal(refusalReason('source'), 'too many failed logins from this source');
    assert.equal(refusalReason('account'), 'too many failed logins for this user name');
  });

  test('user names are truncated to 64 characters and escaped', () => {
    assert.equal(loggableName('admin'), 'admin');
    assert.equal(loggableName('ops-äö✓'), 'ops-äö✓');
    assert.equal(loggableName('a\nb\r\u0000c\u001b[31m'), 'a\\u{a}b\\u{d}\\u{0}c\\u{1b}[31m');
    assert.equal(loggableName('back\\slash'), 'back\\\\slash');
    assert.equal(loggableName('rtl\u202eevil\u2028x'), 'rtl\\u{202e}evil\\u{2028}x');
    assert.equal(loggableName('x'.repeat(300)), `${'x'.repeat(64)}…(236 more)`);
  });
});
