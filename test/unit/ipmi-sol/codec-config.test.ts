import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  activateResponse,
  decodeSol,
  encodeSol,
  instanceInfoResponse,
  nextSolSeq,
} from '../../../src/ipmi/sol/codec.ts';
import { defaultSolConfig, getSolParameter, setSolParameter } from '../../../src/ipmi/sol/config.ts';

test('SOL packets: 4-byte header then characters, both ways', () => {
  const bytes = encodeSol({ seq: 3, ackSeq: 2, accepted: 5, flags: 0x10, data: Buffer.from('hi') });
  assert.deepEqual([...bytes], [0x03, 0x02, 0x05, 0x10, 0x68, 0x69]);
  const p = decodeSol(Buffer.from([0xf1, 0xf0, 0x00, 0x08]))!;
  assert.deepEqual({ ...p, data: [...p.data] }, { seq: 1, ackSeq: 0, accepted: 0, flags: 0x08, data: [] });
  assert.equal(decodeSol(Buffer.from([1, 0, 0])), null, 'shorter than the header');
});

test('sequence numbers cycle 1..15 and never use 0 (ACK-only)', () => {
  const seen: number[] = [];
  let s = 0;
  for (let i = 0; i < 17; i++) {
    s = nextSolSeq(s);
    seen.push(s);
  }
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 1, 2]);
});

test('Activate Payload response: exactly 12 bytes, sizes and port little-endian, no VLAN', () => {
  assert.deepEqual(
    [...activateResponse(255, 255, 0x26f)],
    [0, 0, 0, 0, 0xff, 0x00, 0xff, 0x00, 0x6f, 0x02, 0xff, 0xff],
  );
});

test('Get Payload Instance Info: the owning BMC session ID, 12 bytes; zeros when inactive', () => {
  assert.deepEqual(
    [...instanceInfoResponse(0xa0b1c2d3, true)],
    [0xd3, 0xc2, 0xb1, 0xa0, 1, 0, 0, 0, 0, 0, 0, 0],
  );
  assert.deepEqual([...instanceInfoResponse(0xa0b1c2d3, false)], new Array(12).fill(0));
});

test('SOL parameters have the lengths ipmitool sol info checks', () => {
  const c = defaultSolConfig();
  const lengths = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((p) => getSolParameter(c, p, 623)!.length);
  assert.deepEqual(lengths, [1, 1, 1, 2, 2, 1, 1, 1, 2]);
  assert.deepEqual(getSolParameter(c, 2, 623), [0xc3], 'force encryption + authentication, OPERATOR');
  assert.deepEqual(getSolParameter(c, 8, 623), [0x6f, 0x02]);
  assert.equal(getSolParameter(c, 9, 623), null);
});

test('Set SOL parameters: valid values change the config, invalid ones are refused', () => {
  const c = defaultSolConfig();
  assert.equal(setSolParameter(c, 1, Uint8Array.from([0])), 0);
  assert.equal(c.enabled, false);
  assert.equal(setSolParameter(c, 2, Uint8Array.from([0x03])), 0);
  assert.deepEqual([c.forceEncryption, c.forceAuthentication, c.privilege], [false, false, 3]);
  assert.equal(setSolParameter(c, 2, Uint8Array.from([0x05])), 0xcc, 'privilege 5 is not a level');
  assert.equal(c.privilege, 3);
  assert.equal(setSolParameter(c, 3, Uint8Array.from([0, 5])), 0xcc, 'accumulate interval 0');
  assert.equal(setSolParameter(c, 4, Uint8Array.from([0x09, 10])), 0xcc, 'retry count is 3 bits');
  assert.equal(setSolParameter(c, 4, Uint8Array.from([3, 20])), 0);
  assert.deepEqual([c.retryCount, c.retryInterval], [3, 20]);
  assert.equal(setSolParameter(c, 5, Uint8Array.from([0x0b])), 0xcc, 'no such bit rate');
  assert.equal(setSolParameter(c, 6, Uint8Array.from([0x07])), 0);
  assert.equal(c.volatileBitRate, 7);
  assert.equal(setSolParameter(c, 8, Uint8Array.from([1, 2])), 0x82, 'the port is read-only');
  assert.equal(setSolParameter(c, 1, Uint8Array.from([1, 1])), 0xc7, 'wrong length');
  assert.equal(setSolParameter(c, 0, Uint8Array.from([1])), 0);
  assert.equal(setSolParameter(c, 0, Uint8Array.from([1])), 0x81, 'already in progress');
  assert.equal(setSolParameter(c, 0, Uint8Array.from([2])), 0, 'commit write completes');
  assert.equal(c.setInProgress, 0);
  assert.equal(setSolParameter(c, 42, Uint8Array.from([1])), 0x80);
});
