import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checksum } from '../../../src/ipmi/codec/checksum.ts';
import {
  decodeOpenSessionRequest,
  decodeOpenSessionResponse,
  decodeRakp1,
  decodeRakp2,
  decodeRakp3,
  decodeRakp4,
  encodeOpenSessionRequest,
  encodeOpenSessionResponse,
  encodeRakp1,
  encodeRakp2,
  encodeRakp3,
  encodeRakp4,
} from '../../../src/ipmi/codec/handshake.ts';
import { AUTH_MD5, AUTH_NONE, decodeLan15, encodeLan15 } from '../../../src/ipmi/codec/lan15.ts';
import {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
} from '../../../src/ipmi/codec/message.ts';
import {
  decodeAsfPing,
  decodeRmcpHeader,
  encodeAsfPing,
  encodeAsfPong,
} from '../../../src/ipmi/codec/rmcp.ts';
import {
  decodeRmcpPlusHeader,
  encodeSessionPacket,
  encodeUnauthenticated,
  openSessionPacket,
} from '../../../src/ipmi/codec/rmcpplus.ts';
import type { SessionKeys } from '../../../src/ipmi/crypto/packet.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('checksum: covered bytes plus checksum sum to zero', () => {
  assert.equal(checksum(hex('2018'), 0, 2), 0xc8);
  assert.equal(checksum(hex('810401'), 0, 3), 0x7a);
});

test('ASF presence ping gets the 28-byte pong with the IPMI-supported bit and the echoed tag', () => {
  const ping = encodeAsfPing(0x42);
  assert.deepEqual(ping, hex('0600ff06000011be80420000'));
  assert.deepEqual(decodeAsfPing(ping), { tag: 0x42 });
  const pong = encodeAsfPong(0x42);
  assert.equal(pong.length, 28);
  assert.deepEqual(pong, hex('0600ff06000011be40420010 000011be 00000000 81 00 000000000000'));
  assert.equal(decodeAsfPing(pong), null);
  assert.equal(decodeRmcpHeader(hex('0500ff07')), null);
  assert.deepEqual(decodeRmcpHeader(hex('0600ff87')), { sequence: 0xff, messageClass: 7, ack: true });
});

test('IPMI request/response messages round-trip and reject bad checksums', () => {
  const req = encodeRequest({ netFn: 6, cmd: 1, rqSeq: 1 });
  assert.deepEqual(req, hex('2018c88104017a'));
  const d = decodeRequest(req)!;
  assert.equal(d.netFn, 6);
  assert.equal(d.cmd, 1);
  assert.equal(d.rqSeq, 1);
  assert.equal(d.data.length, 0);
  const res = encodeResponse(d, 0, Buffer.from([1, 2, 3]));
  const r = decodeResponse(res)!;
  assert.equal(r.netFn, 7);
  assert.equal(r.rqSeq, 1);
  assert.equal(r.cmd, 1);
  assert.equal(r.completionCode, 0);
  assert.deepEqual([...r.data], [1, 2, 3]);
  assert.equal(res[0], 0x81);
  assert.equal(res[3], 0x20);
  const bad = Buffer.from(req);
  bad.writeUInt8(bad[6]! ^ 1, 6);
  assert.equal(decodeRequest(bad), null);
  bad.writeUInt8(bad[6]! ^ 1, 6);
  bad.writeUInt8(bad[2]! ^ 1, 2);
  assert.equal(decodeRequest(bad), null);
  assert.equal(decodeRequest(hex('2018c881047a')), null); // too short
});

test('IPMI 1.5 packets round-trip with and without auth code, and never carry a pad byte', () => {
  const msg = encodeRequest({ netFn: 6, cmd: 0x38, rqSeq: 0, data: Buffer.from([0x0e, 0x04]) });
  const none = encodeLan15({ authType: AUTH_NONE, sequence: 0, sessionId: 0, message: msg });
  assert.equal(none.length, 14 + msg.length);
  assert.deepEqual(decodeLan15(none), {
    authType: 0,
    sequence: 0,
    sessionId: 0,
    authCode: null,
    message: msg,
  });
  const code = Buffer.alloc(16, 0xab);
  const md5 = encodeLan15({
    authType: AUTH_MD5,
    sequence: 7,
    sessionId: 0x01020304,
    message: msg,
    authCode: code,
  });
  assert.equal(md5.length, 30 + msg.length);
  assert.equal(md5[29], msg.length);
  const d = decodeLan15(md5)!;
  assert.equal(d.sequence, 7);
  assert.equal(d.sessionId, 0x01020304);
  assert.deepEqual(d.authCode, code);
  assert.deepEqual(d.message, msg);
  assert.equal(decodeLan15(md5.subarray(0, md5.length - 2)), null); // length byte disagrees
  const wrongLen = Buffer.from(md5);
  wrongLen[29] = 200;
  assert.equal(decodeLan15(wrongLen), null);
});

test('Open Session request/response round-trip; an error response is 8 bytes', () => {
  const req = encodeOpenSessionRequest({
    tag: 0,
    privilege: 0,
    consoleSessionId: 0xa0a2a3a4,
    auth: 1,
    integrity: 1,
    confidentiality: 1,
  });
  assert.deepEqual(req.subarray(4, 8), hex('a4a3a2a0'));
  const d = decodeOpenSessionRequest(req)!;
  assert.equal(d.consoleSessionId, 0xa0a2a3a4);
  assert.deepEqual([d.auth, d.integrity, d.confidentiality], [1, 1, 1]);
  assert.equal(decodeOpenSessionRequest(req.subarray(0, 31)), null);
  const ok = encodeOpenSessionResponse({
    tag: 0,
    status: 0,
    privilege: 4,
    consoleSessionId: d.consoleSessionId,
    bmcSessionId: 0xfedcba98,
    algorithmPayloads: d.algorithmPayloads,
  });
  assert.equal(ok.length, 36);
  assert.deepEqual(ok.subarray(12), req.subarray(8));
  assert.deepEqual(decodeOpenSessionResponse(ok), {
    tag: 0,
    status: 0,
    privilege: 4,
    consoleSessionId: 0xa0a2a3a4,
    bmcSessionId: 0xfedcba98,
  });
  const err = encodeOpenSessionResponse({ tag: 9, status: 0x11, privilege: 4, consoleSessionId: 5 });
  assert.deepEqual(err, hex('0911000005000000'));
});

test('RAKP 1-4 round-trip; RAKP1 with a name over 16 bytes is status 0x0C', () => {
  const rm = Buffer.alloc(16, 1);
  const r1 = encodeRakp1({ tag: 3, bmcSessionId: 77, rm, role: 0x14, username: Buffer.from('admin') });
  assert.equal(r1.length, 33);
  const d1 = decodeRakp1(r1);
  assert.ok(d1 && !('status' in d1));
  assert.equal(d1.role, 0x14);
  assert.equal(d1.username.toString(), 'admin');
  const long = encodeRakp1({ tag: 3, bmcSessionId: 77, rm, role: 0x14, username: Buffer.alloc(17, 0x61) });
  assert.deepEqual(decodeRakp1(long), { tag: 3, bmcSessionId: 77, status: 0x0c });
  const r2 = encodeRakp2({
    tag: 3,
    status: 0,
    consoleSessionId: 9,
    rc: Buffer.alloc(16, 2),
    guid: Buffer.alloc(16, 3),
    authCode: Buffer.alloc(32, 4),
  });
  assert.equal(r2.length, 72);
  assert.deepEqual(decodeRakp2(r2)!.authCode, Buffer.alloc(32, 4));
  assert.equal(encodeRakp2({ tag: 3, status: 0x0d, consoleSessionId: 9 }).length, 8);
  const r3 = encodeRakp3({ tag: 4, status: 0, bmcSessionId: 77, authCode: Buffer.alloc(20, 5) });
  assert.deepEqual(decodeRakp3(r3), { tag: 4, status: 0, bmcSessionId: 77, authCode: Buffer.alloc(20, 5) });
  const r4 = encodeRakp4({ tag: 4, status: 0, consoleSessionId: 9, icv: Buffer.alloc(12, 6) });
  assert.deepEqual(decodeRakp4(r4), { tag: 4, status: 0, consoleSessionId: 9, icv: Buffer.alloc(12, 6) });
  assert.equal(encodeRakp4({ tag: 4, status: 0x0f, consoleSessionId: 9, icv: Buffer.alloc(12) }).length, 8);
});

test('the whole-packet example of the notes (suite 3, fixed IV) encodes byte for byte and opens again', () => {
  const keys: SessionKeys = {
    integrityHash: 'sha1',
    authCodeLength: 12,
    k1: hex('3d3b59bbb4080cc56e404fbc68e8bc1672cdf6b1'),
    aesKey: hex('9bface8e9699f5c1a911ab2cbeb6cf98'),
  };
  const msg = hex('2018c88104017a');
  const pkt = encodeSessionPacket(keys, 0, 0x5b5fd2cf, 4, msg, hex('000102030405060708090a0b0c0d0e0f'));
  assert.deepEqual(
    pkt,
    hex(`0600ff07 06 c0 cfd25f5b 04000000 2000 000102030405060708090a0b0c0d0e0f
         51c76ebdf54f102af47aab244ff5a8e1 ffff 02 07 bcc483ebe862f94f2974fe70`),
  );
  const h = decodeRmcpPlusHeader(pkt)!;
  assert.deepEqual(h, {
    payloadType: 0,
    encrypted: true,
    authenticated: true,
    sessionId: 0x5b5fd2cf,
    sequence: 4,
    payloadLength: 32,
  });
  assert.deepEqual(openSessionPacket(keys, h, pkt), msg);
  // any flipped bit fails the integrity check
  for (const i of [5, 10, 20, 40, 50, pkt.length - 1]) {
    const bad: Buffer = Buffer.from(pkt);
    bad.writeUInt8(bad[i]! ^ 0x10, i);
    const bh = decodeRmcpPlusHeader(bad);
    assert.equal(bh ? openSessionPacket(keys, bh, bad) : null, null, `byte ${i}`);
  }
});

test('integrity-only and plain session packets round-trip; missing protection is refused', () => {
  const k1 = Buffer.alloc(32, 7);
  const integ: SessionKeys = { integrityHash: 'sha256', authCodeLength: 16, k1, aesKey: null };
  const plain: SessionKeys = { integrityHash: null, authCodeLength: 0, k1, aesKey: null };
  for (let len = 7; len < 12; len++) {
    const msg = Buffer.alloc(len, len);
    const pkt = encodeSessionPacket(integ, 0, 1, 2, msg, Buffer.alloc(16));
    assert.equal((pkt.length - 4 - 16) % 4, 0, 'covered bytes are a multiple of 4');
    assert.deepEqual(openSessionPacket(integ, decodeRmcpPlusHeader(pkt)!, pkt), msg);
    const p2 = encodeSessionPacket(plain, 0, 1, 2, msg, Buffer.alloc(16));
    assert.equal(p2.length, 16 + len);
    assert.equal(openSessionPacket(integ, decodeRmcpPlusHeader(p2)!, p2), null);
    assert.deepEqual(openSessionPacket(plain, decodeRmcpPlusHeader(p2)!, p2), msg);
  }
  const u = encodeUnauthenticated(0x11, Buffer.alloc(36));
  assert.deepEqual(u.subarray(0, 16), hex('0600ff07 06 11 00000000 00000000 2400'));
});
