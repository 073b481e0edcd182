import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { ipmiFuzzPackets, prng } from '../../../bench/lib/fuzz.ts';
import { decodeOpenSessionResponse, decodeRakp2, decodeRakp4 } from '../../../src/ipmi/codec/handshake.ts';
import { decodeLan15 } from '../../../src/ipmi/codec/lan15.ts';
import { decodeResponse } from '../../../src/ipmi/codec/message.ts';
import { decodeRmcpPlusHeader } from '../../../src/ipmi/codec/rmcpplus.ts';
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
    server: {
      logger: pino({ level: 'debug' }, sink),
      loginLimits: { sourceBurst: 1_000_000, sourceRefillMs: 1000 },
    },
  });
  const seed = Number(process.env.FUZZ_SEED ?? 0x5eed);
  const rnd = prng(seed);

  const clients = await Promise.all([
    RmcpPlusClient.connect(bmc.port, { username: 'admin', password: 'password', suite: 3 }),
    RmcpPlusClient.connect(bmc.port, { username: 'admin', password: 'password', suite: 17 }),
    RmcpPlusClient.connect(bmc.port, { username: 'admin', password: 'password', suite: 2 }),
  ]);
  const fuzzer = createSocket('udp4');
  const replies: Buffer[] = [];
  fuzzer.on('message', (m) => replies.push(m));
  await new Promise<void>((r) => fuzzer.bind(0, '127.0.0.1', () => r()));

  // Random, framed and mutated packets (bench/lib/fuzz.ts), with live session IDs and in-session
  // packets captured below as templates.
  const liveIds = clients.map((c) => c.bmcSessionId);
  const captured: Buffer[] = [];
  const nextPacket = ipmiFuzzPackets(rnd, liveIds, captured);

  const TOTAL = 8000;
  let sent = 0;
  let checks = 0;
  let retransmissions = 0;
  try {
    while (sent < TOTAL) {
      for (let i = 0; i < 100; i++, sent++) {
        fuzzer.send(nextPacket(), bmc.port, '127.0.0.1');
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
