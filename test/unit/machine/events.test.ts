import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type MachineEvent, MachineEventHub } from '../../../src/machine/index.ts';

test('events arrive asynchronously, in order, and a throwing listener does not stop others', async () => {
  const hub = new MachineEventHub();
  const seen: MachineEvent[] = [];
  hub.on(() => {
    throw new Error('faulty');
  });
  const off = hub.on((e) => seen.push(e));
  hub.emit({ type: 'inventory' });
  hub.emit({ type: 'power', state: 'On', previous: 'PoweringOn' });
  assert.equal(seen.length, 0, 'not delivered synchronously');
  await Promise.resolve();
  assert.deepEqual(
    seen.map((e) => e.type),
    ['inventory', 'power'],
  );
  off();
  hub.emit({ type: 'inventory' });
  await Promise.resolve();
  assert.equal(seen.length, 2);
});
