import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { prng } from '../../../bench/lib/fuzz.ts';
import {
  decodeOpenSessionResponse,
  decodeRakp2,
  decodeRakp4,
  encodeOpenSessionRequest,
  encodeRakp1,
  encodeRakp3,
} from '../../../src/ipmi/codec/handshake.ts';
import { decodeLan15, encodeLan15 } from '../../../src/ipmi/codec/lan15.ts';
import { decodeResponse, encodeRequest } from '../../../src/ipmi/codec/message.ts';
import { encodeAsfPing } from '../../../src/ipmi/codec/rmcp.ts';
import { decodeRmcpPlusHeader, encodeUnauthenticated } from '../../../src/ipmi/codec/rmcpplus.ts';
import { startTestBmc } from '../../support/ipmi-bmc.ts';
import { RmcpPlusClient } from '../../support/ipmi-client.ts';

/** Checks that a datagram the BMC sent is well-formed; returns a description of the problem or null. */
function malformed(pkt: Buffer): string | null {
  if (pkt.length < 4 || pkt[0] !== 0x06 || pkt[1] !== 0 || pkt[2] !== 0xff) return 'bad RMCP header';
  if (pkt[3] === 0x06) return pkt.length === 28 && pkt[8] === 0x40 ? null : 'bad ASF pong';
  if (pkt[3] !== 0x07) return 'bad RMCP class';
  if (pkt[4] === 0x06) {
    const h = decodeRmcpPlusHeader(pkt);
    if (!h) return 'bad RMCP+ header';
    if (h.sessionId !== 0) return null; // in-session replies go to sessions' own sources; checked by clients
    const p = pkt.subarray(16, 16 + h.payloadLength);
    if (16 + h.payloadLength !== pkt.length) return 'RMCP+ length mismatch';
    switch (h.payloadType) {
      case 0x00:
        return decodeResponse(Buffer.from(p)) ? null : 'bad IPMI response';
      case 0x11:
        return decodeOpenSessionResponse(Buffer.from(p)) ? null : 'bad Open Session Response';
      case 0x13: {
        const r = decodeRakp2(Buffer.from(p));
        return r && (r.status !== 0 ? p.length === 8 : p.length === 60 || p.length === 72)
          ? null
          : 'bad RAKP2';
      }
      case 0x15: {
        const r = decodeRakp4(Buffer.from(p));
        return r && (r.status !== 0 ? p.length === 8 : p.length === 20 || p.length === 24)
          ? null
          : 'bad RAKP4';
      }
      default:
        return `unexpected payload type ${h.payloadType}`;
    }
  }
  const l = decodeLan15(pkt);
  if (!l) return 'bad 1.5 packet';
  return decodeResponse(l.message) ? null : 'bad 1.5 IPMI response';
}

test('fuzz: thousands of random and mutated packets never crash the BMC nor get malformed answers', async () => {
  const logged: Array<{ level: number; msg: string }> = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) logged.push(JSON.parse(line));
      cb();
    },
  });
  const bmc = await startTestBmc({
    server: { logger: pino({ level: 'debug' }, sink), authRateLimit: { burst: 1_000_000, refillMs: 1000 } },
  });
  const seed = Number(process.env.FUZZ_SEED ?? 0x5eed);
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));

  const clients = await Promise.all([
    RmcpPlusClient.connect(bmc.port, { username: 'admin', password: 'password', suite: 3 }),
    RmcpPlusClient.connect(bmc.port, { username: 'admin', password: 'password', suite: 17 }),
    RmcpPlusClient.connect(bmc.port, { username: 'admin', password: 'password', suite: 2 }),
  ]);
  const fuzzer = createSocket('udp4');
  const replies: Buffer[] = [];
  fuzzer.on('message', (m) => replies.push(m));
  await new Promise<void>((r) => fuzzer.bind(0, '127.0.0.1', () => r()));

  // Valid templates to mutate.
  const liveIds = clients.map((c) => c.bmcSessionId);
  const captured: Buffer[] = [];
  const templates = (): Buffer[] => {
    const sid = liveIds[int(liveIds.length)]!;
    return [
      encodeAsfPing(int(256)),
      encodeLan15({
        authType: 0,
        sequence: 0,
        sessionId: 0,
        message: encodeRequest({ netFn: 6, cmd: 0x38, rqSeq: int(64), data: Buffer.from([0x8e, 4]) }),
      }),
      encodeLan15({
        authType: 0,
        sequence: 0,
        sessionId: 0,
        message: encodeRequest({
          netFn: 6,
          cmd: 0x39,
          rqSeq: 1,
          data: Buffer.concat([Buffer.from([2]), Buffer.from('admin'.padEnd(16, '\0'))]),
        }),
      }),
      encodeLan15({
        authType: 2,
        sequence: 0,
        sessionId: sid,
        authCode: bytes(16),
        message: encodeRequest({ netFn: 6, cmd: 0x3a, rqSeq: 2, data: bytes(22) }),
      }),
      encodeUnauthenticated(
        0,
        encodeRequest({ netFn: 6, cmd: 0x54, rqSeq: 0, data: Buffer.from([0x0e, 0, 0x80 | int(3)]) }),
      ),
      encodeUnauthenticated(
        0x10,
        encodeOpenSessionRequest({
          tag: int(256),
          privilege: int(6),
          consoleSessionId: int(2 ** 32),
          auth: int(4),
          integrity: int(5),
          confidentiality: int(3),
        }),
      ),
      encodeUnauthenticated(
        0x12,
        encodeRakp1({
          tag: 1,
          bmcSessionId: int(2) ? sid : int(2 ** 32),
          rm: bytes(16),
          role: int(256),
          username: Buffer.from(int(2) ? 'admin' : 'x'),
        }),
      ),
      encodeUnauthenticated(
        0x14,
        encodeRakp3({
          tag: 1,
          status: int(2) ? 0 : int(256),
          bmcSessionId: sid,
          authCode: bytes(int(2) ? 20 : 32),
        }),
      ),
      ...captured.slice(-4),
    ];
  };
  const mutate = (b: Buffer): Buffer => {
    const p = Buffer.from(b);
    switch (int(8)) {
      case 0: // truncate
        return p.subarray(0, int(p.length + 1));
      case 1: // flip bits
        for (let i = 0, n = 1 + int(4); i < n && p.length; i++) p[int(p.length)]! ^= 1 << int(8);
        return p;
      case 2: // wrong length fields
        if (p.length > 16) p.writeUInt16LE(int(65536), 14);
        if (p.length > 13) p[13] = int(256);
        if (p.length > 29) p[29] = int(256);
        return p;
      case 3: // bad checksum at the end
        if (p.length) p[p.length - 1]! ^= 0x5a;
        return p;
      case 4: // random session ID, or a live one
        if (p.length > 13)
          p.writeUInt32LE(int(2) ? liveIds[int(liveIds.length)]! : int(2 ** 32), int(2) ? 6 : 9);
        return p;
      case 5: // append garbage
        return Buffer.concat([p, bytes(1 + int(40))]);
      case 6: // replay as is
        return p;
      default: // change auth type / payload type byte
        if (p.length > 5) p[int(2) ? 4 : 5] = int(256);
        return p;
    }
  };

  const TOTAL = 8000;
  let sent = 0;
  let checks = 0;
  let retransmissions = 0;
  try {
    while (sent < TOTAL) {
      for (let i = 0; i < 100; i++, sent++) {
        let pkt: Buffer;
        const kind = int(10);
        if (kind === 0) pkt = bytes(int(300));
        else if (kind === 1) pkt = Buffer.concat([Buffer.from([6, 0, 0xff, int(2) ? 7 : 6]), bytes(int(80))]);
        else {
          const t = templates();
          pkt = mutate(t[int(t.length)]!);
        }
        fuzzer.send(pkt, bmc.port, '127.0.0.1');
      }
      await new Promise((r) => setTimeout(r, 2));
      // Valid sessions keep working in between, and a captured packet becomes a replay template.
      if (sent % 500 === 0) {
        await new Promise((r) => setTimeout(r, 20)); // let the server drain its socket
        for (const c of clients) {
          // Like a real console, retransmit (with a new sequence number) if a datagram got lost in
          // the flood; a dead session would never answer.
          let reply: Buffer | null = null;
          let attempt = 0;
          for (; attempt < 5 && !reply; attempt++) {
            const req = c.buildRequest(0x00, 0x01);
            captured.push(req);
            reply = await c.exchange(req, 500);
          }
          assert.ok(reply, `session ${c.suite.id} still answers after ${sent} fuzz packets`);
          retransmissions += attempt - 1;
          assert.equal(c.parseReply(reply)?.completionCode, 0);
          checks++;
        }
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    fuzzer.close();
    for (const c of clients) c.close();
    await bmc.stop();
  }
  assert.ok(checks >= 3 * (TOTAL / 500));
  if (process.env.FUZZ_DEBUG) console.error(`retransmissions ${retransmissions} / ${checks}`);
  // A few datagrams may be lost in the flood, not whole sessions.
  assert.ok(retransmissions <= checks, `${retransmissions} retransmissions for ${checks} checks`);
  assert.ok(replies.length > 100, `the BMC answered the well-formed part of the traffic (${replies.length})`);
  const problems = replies.map(malformed).filter((x) => x !== null);
  assert.deepEqual(problems, [], `seed ${seed}`);
  const thrown = logged.filter((l) => l.msg === 'IPMI packet dropped' || l.level >= 50);
  assert.deepEqual(thrown, [], 'no handler threw');
});
