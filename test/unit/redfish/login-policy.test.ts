/**
 * The Redfish failed-login policy (docs/security.md, "Redfish"): budgets per source address and
 * per user name, the sources an account trusts, bounded tables that a flood of names or addresses
 * cannot make forget a hot account, and the log line and callback of each failed login. The clock
 * is a variable, so nothing here waits.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import type { BmcAccount } from '../../../src/machine/index.ts';
import {
  FailureBudget,
  type LoginFailure,
  LoginGuard,
  type LoginLimits,
  loggableName,
  RedfishLogin,
  resolveLoginLimits,
  sourceKey,
} from '../../../src/redfish/login-guard.ts';
import { AccountChecker } from '../../../src/redfish/sessions.ts';

const ADMIN: BmcAccount = { username: 'admin', password: 'Adm1n-pass', role: 'Administrator' };

function rig(limits: LoginLimits = {}, accounts: BmcAccount[] = [ADMIN]) {
  const clock = { now: 1_000_000 };
  const state = { accounts };
  const lines: Array<Record<string, unknown>> = [];
  const failures: LoginFailure[] = [];
  const log = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) });
  const guard = new LoginGuard(
    limits,
    () => state.accounts,
    () => clock.now,
  );
  const login = new RedfishLogin({
    checker: new AccountChecker(() => state.accounts),
    guard,
    log,
    onFailure: (e) => failures.push(e),
  });
  /** One login with the admin's name, `password`, from `address`. */
  const as = (address: string, password: string, user = 'admin') =>
    login.attempt(user, password, `${address}:40000`, 'basic');
  return { clock, state, lines, failures, guard, login, as };
}

describe('per-source budget', () => {
  test('6 failures from one address: it is refused, even with the right password, until a token returns', () => {
    const r = rig();
    for (let i = 0; i < 6; i++)
      assert.deepEqual(r.as('10.0.0.2', `guess-${i}`), { ok: false, retryAfterSeconds: null });
    assert.deepEqual(
      r.as('10.0.0.2', ADMIN.password),
      { ok: false, retryAfterSeconds: 5 },
      'refused, not checked',
    );
    assert.equal(r.as('10.0.0.3', ADMIN.password).ok, true, 'another address with the password gets in');
    assert.equal(r.login.locked('admin'), false, 'one address cannot lock the account');
    r.clock.now += 4_999;
    assert.deepEqual(r.as('10.0.0.2', ADMIN.password), { ok: false, retryAfterSeconds: 1 });
    r.clock.now += 1;
    assert.equal(r.as('10.0.0.2', ADMIN.password).ok, true, 'one failure forgiven after 5 s');
  });

  test('a flood of refused attempts does not extend the delay (they are not counted as guesses)', () => {
    const r = rig();
    for (let i = 0; i < 6; i++) r.as('10.0.0.2', `guess-${i}`);
    for (let i = 0; i < 1000; i++) r.as('10.0.0.2', `more-${i}`);
    r.clock.now += 5_000;
    assert.equal(r.as('10.0.0.2', ADMIN.password).ok, true);
  });

  test('IPv6 sources share a budget per /64; IPv4-mapped addresses are their IPv4 address', () => {
    assert.equal(sourceKey('2001:db8::1'), sourceKey('2001:db8:0:0:ffff::2'));
    assert.notEqual(sourceKey('2001:db8::1'), sourceKey('2001:db8:0:1::1'));
    assert.equal(sourceKey('2001:DB8::1%eth0'), sourceKey('2001:db8::9'));
    assert.equal(sourceKey('::ffff:10.0.0.1'), '10.0.0.1');
    assert.equal(sourceKey('10.0.0.1'), '10.0.0.1');
    const r = rig();
    for (let i = 0; i < 6; i++) r.as(`2001:db8::${i + 1}`, 'wrong');
    assert.equal(r.as('2001:db8::ff', ADMIN.password).ok, false, 'a fresh address of the same /64');
    assert.equal(r.as('2001:db8:0:1::1', ADMIN.password).ok, true);
  });

  test('the table is bounded and keeps the sources over budget when it evicts', () => {
    const r = rig({ maxSources: 100, accountBurst: 0 });
    for (let i = 0; i < 6; i++) r.as('10.9.9.9', 'guess');
    // 1,000 other addresses fail once each (as many addresses as an attacker may have).
    for (let i = 0; i < 1000; i++) r.as(`10.1.${i >> 8}.${i & 255}`, 'typo');
    assert.ok(r.guard.sources.size <= 100, `${r.guard.sources.size} sources tracked`);
    assert.equal(r.as('10.9.9.9', ADMIN.password).ok, false, 'the guessing address is still refused');
  });
});

describe('per-account budget', () => {
  test('10 failures from 10 addresses: new addresses are refused; addresses the account used are not', () => {
    const r = rig();
    assert.equal(r.as('192.168.1.10', ADMIN.password).ok, true, 'the console logs in first');
    for (let i = 0; i < 10; i++) r.as(`10.0.1.${i}`, `guess-${i}`);
    assert.equal(r.login.locked('admin'), true);
    assert.deepEqual(r.as('10.0.2.1', ADMIN.password), { ok: false, retryAfterSeconds: 6 });
    assert.equal(r.as('192.168.1.10', ADMIN.password).ok, true, 'the console is not locked out');
    r.clock.now += 6_000;
    assert.equal(r.login.locked('admin'), false);
    assert.equal(r.as('10.0.2.1', ADMIN.password).ok, true, 'a new address after 6 s');
  });

  test('trust: only for the account proven, not for the source budget, and for 24 h', () => {
    const other: BmcAccount = { username: 'ops', password: 'Ops-pass-1', role: 'Operator' };
    const r = rig({}, [ADMIN, other]);
    assert.equal(r.as('192.168.1.10', ADMIN.password).ok, true);
    for (let i = 0; i < 10; i++) r.as(`10.0.1.${i}`, 'guess', 'ops');
    assert.equal(r.as('192.168.1.10', other.password, 'ops').ok, false, 'trusted for admin, not for ops');
    for (let i = 0; i < 6; i++) r.as('192.168.1.10', 'typo');
    assert.equal(r.as('192.168.1.10', ADMIN.password).ok, false, 'its own budget still applies');
    r.clock.now += 30_000;
    assert.equal(r.as('192.168.1.10', ADMIN.password).ok, true);
    r.clock.now += 24 * 3600_000 + 1;
    for (let i = 0; i < 10; i++) r.as(`10.0.3.${i}`, 'guess');
    assert.equal(r.guard.trusted('192.168.1.10', 'admin'), false, 'trust ends after 24 h');
    assert.equal(r.as('192.168.1.10', ADMIN.password).ok, false);
  });

  test('spraying thousands of made-up names never resets the admin budget', () => {
    const r = rig({ sourceBurst: 0, maxUnknownNames: 1024 });
    for (let i = 0; i < 5; i++) r.as('10.0.0.2', `guess-${i}`);
    for (let i = 0; i < 5000; i++) r.as('10.0.0.2', 'x', `user-${i}`);
    for (let i = 5; i < 10; i++) r.as('10.0.0.2', `guess-${i}`);
    assert.deepEqual(r.as('10.0.0.3', ADMIN.password), { ok: false, retryAfterSeconds: 6 });
    // The made-up names are forgotten oldest first, the account never.
    assert.equal(r.login.locked('user-4999'), false, 'one failure each');
  });

  test('a made-up name gets the same budget and answers as the account (no enumeration)', () => {
    const r = rig({ sourceBurst: 0 });
    const run = (user: string) => {
      const out: unknown[] = [];
      for (let i = 0; i < 12; i++) out.push(r.as('10.0.0.2', `guess-${i}`, user));
      return out;
    };
    assert.deepEqual(run('mallory'), run('admin'));
  });

  test('a renamed account: the old name is forgotten, the new one starts afresh', () => {
    const r = rig();
    for (let i = 0; i < 10; i++) r.as(`10.0.1.${i}`, 'guess');
    r.state.accounts = [{ ...ADMIN, username: 'root' }];
    assert.equal(r.as('10.0.2.1', ADMIN.password, 'root').ok, true);
    assert.equal(r.login.locked('root'), false);
  });
});

describe('limits', () => {
  test('0 turns a budget off; bad values are refused with the name of the setting', () => {
    const r = rig({ sourceBurst: 0, accountBurst: 0 });
    for (let i = 0; i < 100; i++) r.as('10.0.0.2', 'guess');
    assert.equal(r.as('10.0.0.2', ADMIN.password).ok, true);
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
    assert.deepEqual(resolveLoginLimits({}), {
      sourceBurst: 6,
      sourceRefillMs: 5000,
      maxSources: 4096,
      accountBurst: 10,
      accountRefillMs: 6000,
      maxUnknownNames: 4096,
      trustedSourceMs: 86_400_000,
    });
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

describe('log and callback', () => {
  test('a failed login is logged with the user name, source and reason, never the password', () => {
    const r = rig();
    r.login.attempt('admin', 'Sup3r-secret-guess', '10.0.0.2:51234', 'session');
    r.login.attempt('mallory', 'Another-secret', '10.0.0.2:51235', 'basic');
    assert.deepEqual(
      r.lines.map((l) => [l.msg, l.user, l.source, l.via, l.reason]),
      [
        ['redfish: login failed', 'admin', '10.0.0.2:51234', 'session', 'wrong password'],
        ['redfish: login failed', 'mallory', '10.0.0.2:51235', 'basic', 'unknown user name'],
      ],
    );
    assert.equal(r.lines[0]!.level, 40, 'warn');
    const text = JSON.stringify(r.lines);
    assert.ok(!text.includes('Sup3r-secret-guess') && !text.includes('Another-secret'));
    assert.deepEqual(r.failures, [
      { user: 'admin', source: '10.0.0.2:51234', reason: 'wrong password' },
      { user: 'mallory', source: '10.0.0.2:51235', reason: 'unknown user name' },
    ]);
  });

  test('a success is neither logged nor reported', () => {
    const r = rig();
    assert.equal(r.as('10.0.0.2', ADMIN.password).ok, true);
    assert.deepEqual(r.lines, []);
    assert.deepEqual(r.failures, []);
  });

  test('refusals are all reported, but logged at most 10 per 10 s', () => {
    const r = rig();
    for (let i = 0; i < 6; i++) r.as('10.0.0.2', 'guess');
    for (let i = 0; i < 50; i++) r.as('10.0.0.2', ADMIN.password);
    assert.equal(r.failures.length, 56);
    const refused = r.lines.filter((l) => l.msg === 'redfish: login refused');
    assert.equal(refused.length, 10);
    assert.equal(refused[0]!.reason, 'too many failed logins from this source');
    assert.equal(refused[0]!.retryAfterSeconds, 5);
    // 10 s later the window is over (and two failures are forgiven): the next refusal is logged
    // after a line that counts the ones that were not.
    r.clock.now += 10_000;
    for (let i = 0; i < 3; i++) r.as('10.0.0.2', 'guess');
    const tail = r.lines.slice(-2);
    assert.equal(tail[0]!.refusals, 40, 'the suppressed count is logged');
    assert.equal(tail[1]!.msg, 'redfish: login refused');
    assert.ok(!JSON.stringify(r.lines).includes(ADMIN.password));
  });

  test('a listener that throws does not break the login', () => {
    const clock = { now: 0 };
    const lines: string[] = [];
    const login = new RedfishLogin({
      checker: new AccountChecker(() => [ADMIN]),
      guard: new LoginGuard(
        {},
        () => [ADMIN],
        () => clock.now,
      ),
      log: pino({ level: 'info' }, { write: (l: string) => lines.push(l) }),
      onFailure: () => {
        throw new Error('metrics down');
      },
    });
    assert.deepEqual(login.attempt('admin', 'x', '10.0.0.2:1', 'basic'), {
      ok: false,
      retryAfterSeconds: null,
    });
    assert.match(lines.join(''), /login failure listener failed/);
  });

  test('user names are truncated to 64 characters and escaped', () => {
    assert.equal(loggableName('admin'), 'admin');
    assert.equal(loggableName('ops-äö✓'), 'ops-äö✓');
    assert.equal(loggableName('a\nb\r\u0000c\u001b[31m'), 'a\\u{a}b\\u{d}\\u{0}c\\u{1b}[31m');
    assert.equal(loggableName('back\\slash'), 'back\\\\slash');
    assert.equal(loggableName('rtl\u202eevil\u2028x'), 'rtl\\u{202e}evil\\u{2028}x');
    assert.equal(loggableName('x'.repeat(300)), `${'x'.repeat(64)}…(236 more)`);
    const r = rig();
    r.login.attempt(`fake\n{"level":30,"msg":"login ok"}${'y'.repeat(100)}`, 'pw', '10.0.0.2:1', 'basic');
    assert.equal(r.lines.length, 1, 'one line: the name cannot forge another');
    assert.equal(r.lines[0]!.user, `fake\\u{a}{"level":30,"msg":"login ok"}${'y'.repeat(30)}…(70 more)`);
  });
});
