// Byte-level tests of the pure codecs behind channel info/access, session info, SDRs and sensor
// readings, and LAN parameter 26.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeChannelAccessRequest,
  encodeBadPasswordThreshold,
  encodeChannelAccess,
} from '../../../src/ipmi/codec/channel.ts';
import {
  decodeGetSdrRequest,
  encodeCompactDiscreteSensor,
  encodeDiscreteReading,
} from '../../../src/ipmi/codec/sdr.ts';
import {
  consoleIpv4,
  decodeSessionInfoRequest,
  encodeSessionInfo,
} from '../../../src/ipmi/codec/session-info.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('compact discrete sensor record: every byte of table 43-2', () => {
  const r = encodeCompactDiscreteSensor({
    recordId: 0x0102,
    ownerId: 0x20,
    sensorNumber: 0x07,
    entityId: 0x07,
    entityInstance: 1,
    sensorType: 0x22,
    readingType: 0x6f,
    readableStates: 0x0021,
    name: 'ACPI',
  });
  assert.equal(
    hex(r),
    [
      '0201', // record ID, LS first
      '51', // SDR 1.5
      '02', // compact sensor
      '1f', // 31 bytes follow the header
      '20',
      '00',
      '07', // owner 0x20, channel 0 / LUN 0, sensor 7
      '07',
      '01', // entity system board, instance 1
      '41',
      '43', // init scanning + scanning on; auto re-arm, no events
      '22',
      '6f', // System ACPI Power State, sensor-specific
      '0000',
      '0000', // no assertion / deassertion events
      '2100', // readable states 0 and 5
      'c0', // no numeric reading
      '00',
      '00', // no units
      '01',
      '00', // one sensor, no instance sharing
      '00',
      '00', // hysteresis
      '000000', // reserved
      '00', // OEM
      'c4', // 8-bit ASCII, 4 bytes
      Buffer.from('ACPI').toString('hex'),
    ].join(''),
  );
  assert.throws(() =>
    encodeCompactDiscreteSensor({
      recordId: 1,
      ownerId: 0x20,
      sensorNumber: 1,
      entityId: 7,
      entityInstance: 1,
      sensorType: 0x22,
      readingType: 0x6f,
      readableStates: 1,
      name: 'seventeen chars!!',
    }),
  );
});

test('discrete reading: state bits in bytes 2–3 (byte 3 bit 7 returned as 1), scanning on, mirrored in byte 0', () => {
  assert.equal(hex(encodeDiscreteReading(1 << 5)), '20402080');
  assert.equal(hex(encodeDiscreteReading(1)), '01400180');
  assert.equal(hex(encodeDiscreteReading(0x4100)), '004000c1'); // states 8 and 14
});

test('Get SDR request: 6 bytes exactly, little-endian IDs', () => {
  assert.deepEqual(decodeGetSdrRequest(Buffer.from('3412020005ff', 'hex')), {
    reservation: 0x1234,
    recordId: 2,
    offset: 5,
    count: 0xff,
  });
  assert.equal(decodeGetSdrRequest(Buffer.from('3412020005', 'hex')), null);
  assert.equal(decodeGetSdrRequest(Buffer.from('3412020005ff00', 'hex')), null);
});

test('Get Session Info request: current, Nth, by handle, by ID; wrong lengths 0xC7, zero handle/ID 0xCC', () => {
  assert.deepEqual(decodeSessionInfoRequest(Buffer.from([0])), { by: 'current' });
  assert.deepEqual(decodeSessionInfoRequest(Buffer.from([5])), { by: 'index', index: 5 });
  assert.deepEqual(decodeSessionInfoRequest(Buffer.from([0xfe, 9])), { by: 'handle', handle: 9 });
  assert.deepEqual(decodeSessionInfoRequest(Buffer.from([0xff, 0x78, 0x56, 0x34, 0x92])), {
    by: 'id',
    id: 0x92345678,
  });
  for (const bad of [[], [0, 0], [5, 1], [0xfe], [0xfe, 1, 2], [0xff, 1, 2, 3], [0xff, 1, 2, 3, 4, 5]])
    assert.deepEqual(decodeSessionInfoRequest(Buffer.from(bad)), { cc: 0xc7 }, `${bad}`);
  assert.deepEqual(decodeSessionInfoRequest(Buffer.from([0xfe, 0])), { cc: 0xcc });
  assert.deepEqual(decodeSessionInfoRequest(Buffer.from([0xff, 0, 0, 0, 0])), { cc: 0xcc });
});

test('Get Session Info response: 18 bytes for a LAN session (IP MS first, port LS first), 3 without one', () => {
  const detail = {
    handle: 2,
    userId: 3,
    privilege: 4,
    rmcpPlus: true,
    channel: 1,
    address: '192.168.7.9',
    port: 0xc350,
  };
  assert.equal(hex(encodeSessionInfo(16, 2, detail)), '02100203041' + '1c0a80709' + '000000000000' + '50c3');
  assert.equal(hex(encodeSessionInfo(16, 2, { ...detail, rmcpPlus: false })).slice(10, 12), '01');
  assert.equal(hex(encodeSessionInfo(63, 0)), '003f00');
  assert.deepEqual(consoleIpv4('::ffff:10.0.0.1'), [10, 0, 0, 1]);
  assert.deepEqual(consoleIpv4('fd00::1'), [0, 0, 0, 0]);
  assert.deepEqual(consoleIpv4('not an address'), [0, 0, 0, 0]);
});

test('Get Channel Access: request selector bits 7:6 (01 non-volatile, 10 volatile), response bits', () => {
  assert.deepEqual(decodeChannelAccessRequest(Buffer.from([0x0e, 0x80])), {
    channel: 0x0e,
    settings: 'volatile',
  });
  assert.deepEqual(decodeChannelAccessRequest(Buffer.from([0x01, 0x40])), {
    channel: 1,
    settings: 'non-volatile',
  });
  assert.deepEqual(decodeChannelAccessRequest(Buffer.from([0x01, 0x00])), { cc: 0xcc });
  assert.deepEqual(decodeChannelAccessRequest(Buffer.from([0x01, 0xc0])), { cc: 0xcc });
  assert.deepEqual(decodeChannelAccessRequest(Buffer.from([0x01])), { cc: 0xc7 });
  assert.deepEqual(decodeChannelAccessRequest(Buffer.from([0x01, 0x80, 0])), { cc: 0xc7 });
  const all = { alerting: true, perMessageAuth: true, userLevelAuth: true, accessMode: 2, privilegeLimit: 4 };
  assert.equal(hex(encodeChannelAccess(all)), '0204');
  assert.equal(hex(encodeChannelAccess({ ...all, alerting: false })), '2204');
  assert.equal(hex(encodeChannelAccess({ ...all, perMessageAuth: false, userLevelAuth: false })), '1a04');
});

test('bad password threshold parameter: count, then intervals in tens of seconds LS first, rounded up and capped', () => {
  assert.equal(
    hex(encodeBadPasswordThreshold({ threshold: 10, resetIntervalMs: 6000, lockoutMs: 6000 })),
    '000a01000100',
  );
  assert.equal(
    hex(encodeBadPasswordThreshold({ threshold: 3, resetIntervalMs: 300_000, lockoutMs: 10_000 })),
    '00031e000100',
  );
  assert.equal(
    hex(encodeBadPasswordThreshold({ threshold: 1000, resetIntervalMs: 1e9, lockoutMs: 1e9 })),
    '00ffffffffff',
  );
  assert.equal(
    hex(encodeBadPasswordThreshold({ threshold: 0, resetIntervalMs: 6000, lockoutMs: 6000 })),
    '000000000000',
  );
});
