/**
 * How the Redfish service applies the failed-login policy: what a refused login answers (the seconds
 * of `Retry-After`, the password unchecked, 503), `ManagerAccount.Locked`, and the log line and
 * callback of each failed or refused login. The policy itself (budgets, trust, bounded tables,
 * limits) is tested once for both protocols in test/unit/machine/login-limits.test.ts. The clock
 * is a variable, so nothing here waits.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import type { BmcAccount } from '../../../src/machine/index.ts';
import { LoginGuard, type LoginLimits } from '../../../src/machine/login-limits.ts';
import { type LoginFailure, loginRefused, RedfishLogin } from '../../../src/redfish/login-guard.ts';
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

describe('refusals', () => {
  test('over the source budget: refused with the seconds until the next try, even with the right password', () => {
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

  test('over the account budget: Locked, new addresses wait 6 s, addresses the account used do not', () => {
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

  test('a refused login is answered 503 ServiceTemporarilyUnavailable with Retry-After', () => {
    const e = loginRefused(6);
    assert.equal(e.status, 503);
    assert.deepEqual(e.headers, { 'Retry-After': '6' });
    assert.match(e.infos[0]!.MessageId, /ServiceTemporarilyUnavailable$/);
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

  test('user names are truncated to 64 characters and escaped in the log line', () => {
    const r = rig();
    r.login.attempt(`fake\n{"level":30,"msg":"login ok"}${'y'.repeat(100)}`, 'pw', '10.0.0.2:1', 'basic');
    assert.equal(r.lines.length, 1, 'one line: the name cannot forge another');
    assert.equal(r.lines[0]!.user, `fake\\u{a}{"level":30,"msg":"login ok"}${'y'.repeat(30)}…(70 more)`);
  });
});
