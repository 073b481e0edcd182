import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AUTH_RATE_LIMIT_DEFAULTS,
  AuthFailureLimiter,
  LoginGuard,
} from '../../../src/ipmi/session/rate-limit.ts';
import { SequenceWindow } from '../../../src/ipmi/session/replay.ts';
import { SetupTable } from '../../../src/ipmi/session/setup.ts';

function take(w: SequenceWindow, seq: number): boolean {
  if (!w.check(seq)) return false;
  w.accept(seq);
  return true;
}

test('RMCP+ window: first packet is the baseline; replays, 0 and far jumps are refused', () => {
  const w = new SequenceWindow(32);
  assert.equal(take(w, 4), true); // ipmitool starts at 3 or 4, not 1
  assert.equal(take(w, 4), false); // replay
  assert.equal(take(w, 5), true);
  assert.equal(take(w, 0), false);
  assert.equal(take(w, 7), true); // a lost packet is fine
  assert.equal(take(w, 6), true); // late but unseen
  assert.equal(take(w, 6), false);
  assert.equal(take(w, 7 + 33), false); // too far ahead
  assert.equal(take(w, 7 + 32), true);
  assert.equal(take(w, 7), false); // now 32 behind: outside the window
  assert.equal(take(w, 10), true); // unseen and within 32 below
});

test('RMCP+ window wraps past 0xFFFFFFFF', () => {
  const w = new SequenceWindow(32);
  assert.equal(take(w, 0xfffffffe), true);
  assert.equal(take(w, 0xffffffff), true);
  assert.equal(take(w, 1), true);
  assert.equal(take(w, 0xffffffff), false);
});

test('IPMI 1.5 window starts at the handed-out number and allows ±8', () => {
  const w = new SequenceWindow(8, 1000);
  assert.equal(w.check(999), false);
  assert.equal(w.check(1009), false);
  assert.equal(take(w, 1000), true);
  assert.equal(take(w, 1000), false);
  assert.equal(take(w, 1008), true);
  assert.equal(take(w, 1001), true);
  assert.equal(take(w, 1000), false);
  assert.equal(take(w, 999), false);
});

test('auth failure limiter: a burst, then one attempt per refill period; refunds; bounded table', () => {
  let now = 0;
  const l = new AuthFailureLimiter({ burst: 3, refillMs: 1000, maxSources: 2 }, () => now);
  for (let i = 0; i < 3; i++) {
    assert.equal(l.allowed('a'), true);
    l.fail('a');
  }
  assert.equal(l.allowed('a'), false);
  assert.equal(l.allowed('b'), true);
  now += 999;
  assert.equal(l.allowed('a'), false);
  now += 1;
  assert.equal(l.allowed('a'), true);
  l.fail('a');
  assert.equal(l.allowed('a'), false);
  l.refund('a');
  assert.equal(l.allowed('a'), true);
  l.fail('b');
  l.fail('c'); // evicts the oldest source
  now += 10_000;
  assert.equal(l.allowed('a'), true);
});

test('login guard defaults: per source 6 then one per 5 s; per account 10 then one per 6 s; 24 h trust', () => {
  assert.deepEqual(AUTH_RATE_LIMIT_DEFAULTS, {
    burst: 6,
    refillMs: 5000,
    maxSources: 4096,
    accountBurst: 10,
    accountRefillMs: 6000,
    maxAccounts: 4096,
    trustedSourceMs: 86_400_000,
  });
  let now = 0;
  const g = new LoginGuard({}, () => now);
  // Ten sources, one failure each: the account budget (10) is used up, no source budget is.
  g.succeeded('10.0.0.99', 'admin');
  for (let i = 0; i < 10; i++) {
    assert.equal(g.check(`10.0.0.${i}`, 'admin'), 'ok');
    g.failed(`10.0.0.${i}`, 'admin');
  }
  assert.equal(g.check('10.0.0.50', 'admin'), 'account', 'a new source waits for the account');
  assert.equal(g.check('10.0.0.50', 'other'), 'ok', 'other names are not affected');
  assert.equal(g.check('10.0.0.99', 'admin'), 'ok', 'a source that logged in before is exempt');
  now += 5999;
  assert.equal(g.check('10.0.0.50', 'admin'), 'account');
  now += 1;
  assert.equal(g.check('10.0.0.50', 'admin'), 'ok', 'one more try per 6 s');
  g.failed('10.0.0.50', 'admin');
  assert.equal(g.check('10.0.0.50', 'admin'), 'account');
  // A source's own budget applies even to a trusted source.
  for (let i = 0; i < 6; i++) g.failed('10.0.0.99', 'admin');
  assert.equal(g.check('10.0.0.99', 'admin'), 'source');
  now += 5000;
  assert.equal(g.check('10.0.0.99', 'admin'), 'ok');
  // Trust lasts 24 h.
  now += 86_400_000;
  g.failed('10.0.0.1', 'admin');
  for (let i = 0; i < 10; i++) g.failed(`10.0.1.${i}`, 'admin');
  assert.equal(g.check('10.0.0.99', 'admin'), 'account', 'trust expired');
});

test('setup table: bounded per source (own oldest dropped) and in all (oldest dropped), expiry by age', () => {
  let now = 0;
  const t = new SetupTable<{ id: number; source: { address: string; port: number }; createdAt: number }>(
    { max: 5, perSource: 2, ttlMs: 100 },
    () => now,
  );
  const e = (id: number, address: string) => ({ id, source: { address, port: 1 }, createdAt: now });
  assert.deepEqual(t.add(e(1, 'a')), []);
  assert.deepEqual(t.add(e(2, 'b')), []);
  now = 10;
  assert.deepEqual(t.add(e(3, 'a')), []);
  assert.deepEqual(
    t.add(e(4, 'a')).map((x) => x.id),
    [1],
    'a flooding source replaces only its own entries',
  );
  assert.ok(t.has(2));
  t.add(e(5, 'c'));
  t.add(e(6, 'd'));
  assert.equal(t.size, 5);
  assert.deepEqual(
    t.add(e(7, 'e')).map((x) => x.id),
    [2],
    'many sources: the oldest entry goes',
  );
  assert.deepEqual(
    t.fromSource('a').map((x) => x.id),
    [3, 4],
  );
  now = 111;
  assert.equal(t.get(3), undefined, 'expired');
  assert.deepEqual(
    t.expire().map((x) => x.id),
    [4, 5, 6, 7],
  );
  assert.equal(t.size, 0);
  assert.deepEqual(t.fromSource('a'), []);
});
