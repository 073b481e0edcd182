import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuthFailureLimiter } from '../../../src/ipmi/session/rate-limit.ts';
import { SequenceWindow } from '../../../src/ipmi/session/replay.ts';

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
