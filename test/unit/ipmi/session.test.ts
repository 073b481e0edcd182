import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SequenceWindow } from '../../../src/ipmi/session/replay.ts';
import type { Session } from '../../../src/ipmi/session/session.ts';
import { SetupTable } from '../../../src/ipmi/session/setup.ts';
import { SessionTable } from '../../../src/ipmi/session/table.ts';

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

test('session table: each active session gets the smallest free handle; freed handles are reused', () => {
  const t = new SessionTable(16, 60_000, 5_000);
  const session = (id: number, lastActivity = 0) =>
    ({ id, lastActivity, state: 'active' }) as unknown as Session;
  t.add(session(0xa1));
  t.add(session(0xb2, 1000));
  t.add(session(0xc3));
  assert.deepEqual([t.handleOf(0xa1), t.handleOf(0xb2), t.handleOf(0xc3)], [1, 2, 3]);
  t.add(session(0xa1)); // added again (a duplicate RAKP 3): keeps its handle
  assert.equal(t.handleOf(0xa1), 1);
  t.delete(0xb2);
  assert.equal(t.handleOf(0xb2), 0);
  t.add(session(0xd4, 1000));
  assert.equal(t.handleOf(0xd4), 2);
  // Idle sessions expire with their handles.
  const expired = t.expire(60_500).map((s) => s.id);
  assert.deepEqual(expired.sort(), [0xa1, 0xc3].sort());
  assert.equal(t.handleOf(0xa1), 0);
  assert.equal(t.handleOf(0xd4), 2);
  t.add(session(0xe5));
  assert.equal(t.handleOf(0xe5), 1);
});
