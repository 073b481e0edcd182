/**
 * The IPMI login policy under attack (docs/security.md, "IPMI over LAN"): Open Session floods,
 * RAKP 1 probes, password guessing from many addresses, user-name enumeration, and how failed
 * logins are reported. Every attack runs on 127.0.0.0/8 and is bounded in packets and time; no
 * assertion is about speed.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import {
  decodeOpenSessionResponse,
  encodeOpenSessionRequest,
  encodeRakp1,
  encodeRakp3,
} from '../../../src/ipmi/codec/handshake.ts';
import { decodeLan15, encodeLan15 } from '../../../src/ipmi/codec/lan15.ts';
import { decodeResponse, encodeRequest } from '../../../src/ipmi/codec/message.ts';
import { encodeUnauthenticated } from '../../../src/ipmi/codec/rmcpplus.ts';
import { md5AuthCode } from '../../../src/ipmi/crypto/auth15.ts';
import type { BmcAccount } from '../../../src/machine/index.ts';
import { ADMIN, startTestBmc } from '../../support/ipmi-bmc.ts';
import { RmcpPlusClient } from '../../support/ipmi-client.ts';
import { DelayRelay, loopbackAddresses, OpenSessionFlood } from '../../support/ipmi-flood.ts';
import { HandshakeError } from '../../support/rmcp-handshake.ts';

const creds = { username: ADMIN.username, password: ADMIN.password };

/** A console that, like ipmitool, restarts the whole handshake up to 4 times on a timeout. */
async function login(
  port: number,
  o: { suite: number; bindAddress?: string; username?: string; password?: string },
): Promise<RmcpPlusClient> {
  let last: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      return await RmcpPlusClient.connect(port, { ...creds, ...o, timeoutMs: 2000 });
    } catch (err) {
      last = err;
      // A refusal is an answer: only a lost or evicted handshake is worth retrying.
      if (err instanceof HandshakeError && err.status !== undefined && err.status !== 2) break;
    }
  }
  throw last;
}

/** A bare UDP socket on a loopback address, one request and one answer at a time. */
class Raw {
  readonly socket: Socket = createSocket('udp4');
  #waiter: ((m: Buffer) => void) | null = null;

  static async open(address = '127.0.0.1'): Promise<Raw> {
    const r = new Raw();
    r.socket.on('message', (m) => r.#waiter?.(m));
    await new Promise<void>((resolve) => r.socket.bind(0, address, () => resolve()));
    return r;
  }

  exchange(port: number, pkt: Buffer, timeoutMs = 2000): Promise<Buffer | null> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#waiter = null;
        resolve(null);
      }, timeoutMs);
      this.#waiter = (m) => {
        clearTimeout(t);
        this.#waiter = null;
        resolve(m);
      };
      this.socket.send(pkt, port, '127.0.0.1');
    });
  }

  /** Open Session for `suite` (3 or 17); the BMC session ID granted. */
  async open(port: number, suite: 3 | 17): Promise<number> {
    const req = encodeOpenSessionRequest({
      tag: 1,
      privilege: 0,
      consoleSessionId: 0x1234,
      auth: suite === 17 ? 3 : 1,
      integrity: suite === 17 ? 4 : 1,
      confidentiality: 1,
    });
    const reply = await this.exchange(port, encodeUnauthenticated(0x10, req));
    const r = reply && decodeOpenSessionResponse(reply.subarray(16));
    assert.equal(r?.status, 0, 'Open Session granted');
    return r.bmcSessionId;
  }

  /** RAKP 1 for `name`: the whole RAKP 2 datagram. */
  async rakp1(port: number, sid: number, name: string): Promise<Buffer> {
    const pkt = encodeRakp1({
      tag: 2,
      bmcSessionId: sid,
      rm: Buffer.alloc(16, 7),
      role: 0x14,
      username: Buffer.from(name),
    });
    const reply = await this.exchange(port, encodeUnauthenticated(0x12, pkt));
    assert.ok(reply, 'RAKP 2 answered');
    return reply;
  }

  close(): void {
    this.socket.close();
  }
}

// --- 1. Open Session floods ------------------------------------------------------------------------

const FLOODS: Array<{ name: string; addresses: string[]; rakp1User?: string }> = [
  { name: 'one address', addresses: ['127.0.0.2'] },
  { name: '39 addresses', addresses: loopbackAddresses(2, 40) },
  { name: 'one address that also answers with RAKP 1', addresses: ['127.0.0.2'], rakp1User: 'admin' },
];

for (const flood of FLOODS) {
  test(`Open Session flood from ${flood.name} (1000/s): a console 50 ms away still logs in`, {
    timeout: 90_000,
  }, async () => {
    const bmc = await startTestBmc();
    const relay = await DelayRelay.start(bmc.port, 50);
    const f = await OpenSessionFlood.start({
      port: bmc.port,
      addresses: flood.addresses,
      rate: 1000,
      maxMs: 30_000,
      ...(flood.rakp1User ? { rakp1User: flood.rakp1User } : {}),
    });
    try {
      // Let the flood fill every table first.
      const t0 = Date.now();
      while (f.stats.answered < 200 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
      const before = f.stats.answered;
      const results: string[] = [];
      for (const suite of [3, 17, 3, 17]) {
        try {
          const c = await login(relay.port, { suite });
          const r = await c.request(0x00, 0x01, [], 3000);
          results.push(r.completionCode === 0 ? 'ok' : `cc ${r.completionCode}`);
          c.close();
        } catch (err) {
          results.push(String(err));
        }
      }
      const during = f.stats.answered - before;
      const stats = await f.stop();
      assert.deepEqual(results, ['ok', 'ok', 'ok', 'ok'], JSON.stringify(stats));
      assert.ok(during > 0, `the flood went on during the logins (${JSON.stringify(stats)})`);
    } finally {
      await f.stop();
      await relay.close();
      await bmc.stop();
    }
  });
}

// --- 2. what counts as a failed login ---------------------------------------------------------------

test('RAKP 1 probes alone (known and unknown names) do not lock out a correct login from that address', async () => {
  // Default limits: 6 failed logins per source.
  const bmc = await startTestBmc({ server: { loginLimits: {} } });
  const raw = await Raw.open('127.0.0.1');
  try {
    for (let i = 0; i < 12; i++) {
      const rakp2 = await raw.rakp1(bmc.port, await raw.open(bmc.port, i % 2 ? 17 : 3), 'admin');
      assert.equal(rakp2[17], 0, `probe ${i}: RAKP 2 status`);
    }
    for (let i = 0; i < 12; i++) await raw.rakp1(bmc.port, await raw.open(bmc.port, 3), `nobody${i}`);
    const c = await RmcpPlusClient.connect(bmc.port, { ...creds, suite: 17 });
    assert.equal((await c.request(0x00, 0x01)).completionCode, 0);
    c.close();
  } finally {
    raw.close();
    await bmc.stop();
  }
});

test('wrong RAKP 3 proofs from 40 addresses against one account are bounded by the per-account budget', {
  timeout: 120_000,
}, async () => {
  // Per source the defaults (6, then one per 5 s); per account 10, then one per minute here, so
  // that the bound does not depend on how long the attack takes on a loaded machine.
  const bmc = await startTestBmc({
    server: { loginLimits: { accountBurst: 10, accountRefillMs: 60_000 } },
  });
  try {
    // A console that logged in before the attack.
    (await RmcpPlusClient.connect(bmc.port, { ...creds, suite: 3, bindAddress: '127.0.0.1' })).close();
    const attackers = loopbackAddresses(2, 41);
    const perSource = new Map<string, number>();
    let evaluated = 0;
    let refused = 0;
    const other: string[] = [];
    const t0 = Date.now();
    const tasks = attackers.flatMap((address, n) => [0, 1, 2, 3, 4, 5].map((i) => ({ address, n, i })));
    // Eight attempts in flight at a time: the attack is about guesses, not about session slots.
    const worker = async () => {
      for (let t = tasks.shift(); t; t = tasks.shift()) {
        const { address, n, i } = t;
        try {
          const c = await RmcpPlusClient.connect(bmc.port, {
            username: 'admin',
            password: `guess-${n}-${i}`,
            suite: i % 2 ? 17 : 3,
            bindAddress: address,
            proveAnyway: true,
            timeoutMs: 5000,
          });
          c.close();
          other.push('logged in with a wrong password');
        } catch (err) {
          const e = err as HandshakeError;
          if (e.step === 'rakp4' && e.status === 0x0f) {
            evaluated++;
            perSource.set(address, (perSource.get(address) ?? 0) + 1);
          } else if ((e.step === 'rakp2' || e.step === 'rakp4') && e.status === 0x01) refused++;
          else other.push(String(err));
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const minutes = Math.floor((Date.now() - t0) / 60_000);
    assert.deepEqual(other, []);
    assert.equal(evaluated + refused, 240);
    assert.ok(evaluated >= 10, `the budget is used (${evaluated})`);
    assert.ok(evaluated <= 10 + minutes + 1, `${evaluated} of 240 guesses evaluated, ${refused} refused`);
    for (const [a, n] of perSource) assert.ok(n <= 6, `${a}: ${n} guesses`);

    // While the account is throttled: a new source is refused even with the right password…
    await assert.rejects(
      RmcpPlusClient.connect(bmc.port, { ...creds, suite: 17, bindAddress: '127.0.0.60' }),
      /RAKP2 status 1\b/,
    );
    // …and a source that logged in before still gets in.
    const c = await RmcpPlusClient.connect(bmc.port, { ...creds, suite: 17, bindAddress: '127.0.0.1' });
    assert.equal((await c.request(0x00, 0x01)).completionCode, 0);
    c.close();
  } finally {
    await bmc.stop();
  }
});

test('a spray of 5000 made-up names from 834 addresses does not make the BMC forget a guessed account', {
  timeout: 120_000,
}, async () => {
  // Per account 4 failures, then one per 10 minutes (so the test does not depend on its speed); per
  // source the defaults (6, then one per 5 s): the spray needs 834 addresses.
  const bmc = await startTestBmc({ server: { loginLimits: { accountBurst: 4, accountRefillMs: 600_000 } } });
  try {
    for (let i = 0; i < 4; i++) {
      await assert.rejects(
        RmcpPlusClient.connect(bmc.port, {
          username: 'admin',
          password: `guess-${i}`,
          suite: 17,
          bindAddress: '127.0.0.2',
          proveAnyway: true,
        }),
        /RAKP4 status 15/,
      );
    }
    await assert.rejects(
      RmcpPlusClient.connect(bmc.port, { ...creds, suite: 17, bindAddress: '127.0.0.3' }),
      /RAKP2 status 1\b/,
      'admin is over its budget: a new address is refused even with the right password',
    );
    // Each address sends 6 wrong RAKP 3 proofs for 6 made-up names (within its own budget).
    const names = Array.from({ length: 5000 }, (_, i) => `user-${i}`);
    const addresses = Array.from(
      { length: Math.ceil(names.length / 6) },
      (_, i) => `127.0.${1 + (i >> 8)}.${i & 255}`,
    );
    const answers = new Map<string, number>();
    let next = 0;
    const worker = async () => {
      for (let a = next++; a < addresses.length; a = next++) {
        const raw = await Raw.open(addresses[a]);
        try {
          for (const name of names.slice(a * 6, a * 6 + 6)) {
            const sid = await raw.open(bmc.port, 17);
            const rakp2 = await raw.rakp1(bmc.port, sid, name);
            const rakp3 = encodeRakp3({
              tag: 3,
              status: 0,
              bmcSessionId: sid,
              authCode: Buffer.alloc(32, 0x5a),
            });
            const rakp4 =
              rakp2[17] === 0 ? await raw.exchange(bmc.port, encodeUnauthenticated(0x14, rakp3)) : null;
            const answer = rakp4 ? `RAKP 4 status ${rakp4[17]}` : `RAKP 2 status ${rakp2[17]}`;
            answers.set(answer, (answers.get(answer) ?? 0) + 1);
          }
        } finally {
          raw.close();
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    assert.deepEqual(
      Object.fromEntries(answers),
      { 'RAKP 4 status 15': 5000 },
      'every made-up name was tried',
    );
    // admin is still over its budget: a new address with the right password is still refused.
    await assert.rejects(
      RmcpPlusClient.connect(bmc.port, { ...creds, suite: 17, bindAddress: '127.0.0.1' }),
      /RAKP2 status 1\b/,
    );
  } finally {
    await bmc.stop();
  }
});

// --- 3. user-name enumeration -----------------------------------------------------------------------

test('RMCP+: an unknown user name is answered exactly like a known one, and fails the same way', async () => {
  const bmc = await startTestBmc();
  const raw = await Raw.open();
  try {
    for (const suite of [3, 17] as const) {
      const answers = [];
      for (const name of ['admin', 'nobody', 'Admin', 'x'.repeat(16)]) {
        const sid = await raw.open(bmc.port, suite);
        const rakp2 = await raw.rakp1(bmc.port, sid, name);
        const rakp3 = encodeRakp3({
          tag: 3,
          status: 0,
          bmcSessionId: sid,
          authCode: Buffer.alloc(suite === 17 ? 32 : 20, 0x5a),
        });
        const rakp4 = await raw.exchange(bmc.port, encodeUnauthenticated(0x14, rakp3));
        assert.ok(rakp4, `${name}: RAKP 4 answered`);
        answers.push({
          rakp2: { status: rakp2[17], length: rakp2.length, payloadLength: rakp2.readUInt16LE(14) },
          rakp4: { status: rakp4[17], length: rakp4.length },
        });
      }
      const expected = {
        rakp2: {
          status: 0,
          length: 16 + 40 + (suite === 17 ? 32 : 20),
          payloadLength: 40 + (suite === 17 ? 32 : 20),
        },
        rakp4: { status: 0x0f, length: 16 + 8 },
      };
      assert.deepEqual(answers, [expected, expected, expected, expected], `suite ${suite}`);
    }
  } finally {
    raw.close();
    await bmc.stop();
  }
});

test('IPMI 1.5: an unknown user (or one whose password 1.5 cannot carry) gets a challenge like a known one', async () => {
  const long: BmcAccount = { username: 'long', password: '01234567890123456789', role: 'Administrator' };
  const bmc = await startTestBmc({ accounts: [ADMIN, long] });
  const raw = await Raw.open();
  try {
    const challenge = async (user: string) => {
      const name = Buffer.alloc(16);
      name.write(user);
      const msg = encodeRequest({
        netFn: 6,
        cmd: 0x39,
        rqSeq: 1,
        data: Buffer.concat([Buffer.from([2]), name]),
      });
      const reply = await raw.exchange(
        bmc.port,
        encodeLan15({ authType: 0, sequence: 0, sessionId: 0, message: msg }),
      );
      return decodeResponse(decodeLan15(reply!)!.message)!;
    };
    for (const user of ['admin', 'nobody', 'long']) {
      const r = await challenge(user);
      assert.equal(r.completionCode, 0, user);
      assert.equal(r.data.length, 20, user);
      // A wrong password: the activation does not authenticate and is dropped, whoever the user.
      const tempId = r.data.readUInt32LE(0);
      const data = Buffer.alloc(22);
      data[0] = 2;
      data[1] = 4;
      r.data.subarray(4, 20).copy(data, 2);
      data.writeUInt32LE(1, 18);
      const message = encodeRequest({ netFn: 6, cmd: 0x3a, rqSeq: 2, data });
      const pkt = encodeLan15({
        authType: 2,
        sequence: 0,
        sessionId: tempId,
        message,
        authCode: (m) => md5AuthCode(Buffer.from('wrong'), tempId, 0, m),
      });
      assert.equal(await raw.exchange(bmc.port, pkt, 300), null, `${user}: activation dropped`);
    }
    assert.equal(bmc.server.sessionCount, 0);
  } finally {
    raw.close();
    await bmc.stop();
  }
});

// --- 4. reporting -----------------------------------------------------------------------------------

test('failed logins are logged with user name and source (never the password) and reported for the metric', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const reported: Array<{ user: string; source: string; reason: string }> = [];
  const account: BmcAccount = { username: 'admin', password: 'Adm1n-s3cret', role: 'Administrator' };
  const bmc = await startTestBmc({
    accounts: [account],
    server: { logger: pino({ level: 'info' }, sink), onLoginFailure: (e) => reported.push(e) },
  });
  try {
    for (const [username, password] of [
      ['admin', 'secret-guess-1'],
      ['nobody', 'secret-guess-2'],
    ] as const) {
      await assert.rejects(
        RmcpPlusClient.connect(bmc.port, { username, password, suite: 17, proveAnyway: true }),
        /RAKP4 status 15/,
      );
    }
    // The right password is not a failure; RAKP 1 alone is no login attempt.
    (
      await RmcpPlusClient.connect(bmc.port, { username: 'admin', password: account.password, suite: 3 })
    ).close();
    const raw = await Raw.open();
    await raw.rakp1(bmc.port, await raw.open(bmc.port, 3), 'admin');
    raw.close();
    const failed = lines.map((l) => JSON.parse(l)).filter((o) => o.msg === 'IPMI login failed');
    assert.deepEqual(
      failed.map((o) => [o.user, o.reason]),
      [
        ['admin', 'wrong password (RAKP 3 auth code)'],
        ['nobody', 'unknown user name'],
      ],
    );
    for (const o of failed) assert.match(o.source, /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(
      reported.map((e) => [e.user, e.reason]),
      failed.map((o) => [o.user, o.reason]),
    );
    const all = lines.join('\n');
    for (const secret of ['secret-guess', account.password])
      assert.ok(!all.includes(secret), `${secret} logged`);
  } finally {
    await bmc.stop();
  }
});
