import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AUTH_MD5,
  AUTH_NONE,
  AUTH_PASSWORD,
  decodeLan15,
  encodeLan15,
} from '../../../src/ipmi/codec/lan15.ts';
import { decodeResponse, encodeRequest, type IpmiResponse } from '../../../src/ipmi/codec/message.ts';
import { md5AuthCode, pad16 } from '../../../src/ipmi/crypto/auth15.ts';
import {
  CMD_ACTIVATE_SESSION,
  CMD_GET_SESSION_CHALLENGE,
  decodeActivateRequest,
  decodeChallengeRequest,
  encodeActivateResponse,
  encodeChallengeResponse,
  encodeInSession,
  LAN15_CC,
  Lan15Sessions,
  type Lan15Step,
  verifyAuthCode,
} from '../../../src/ipmi/session/lan15.ts';
import type { Lan15Session, Source } from '../../../src/ipmi/session/session.ts';
import { SessionTable } from '../../../src/ipmi/session/table.ts';
import type { BmcAccount } from '../../../src/machine/index.ts';
import { LoginGuard } from '../../../src/machine/login-limits.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ADMIN: BmcAccount = { username: 'admin', password: 'password', role: 'Administrator' };
const VIEWER: BmcAccount = { username: 'viewer', password: 'viewer-pass', role: 'ReadOnly' };
const LONG: BmcAccount = { username: 'long', password: '01234567890123456789', role: 'Administrator' };
const SOURCE: Source = { address: '192.0.2.1', port: 623 };
const NETFN_APP = 0x06;
const TEMP_ID = 0x01020304;

/** Session IDs 0x01020304, 0x01020305, … instead of random ones. */
class CountingTable extends SessionTable {
  #next = TEMP_ID;
  override newId(): number {
    return this.#next++;
  }
}

/** A Lan15Sessions with fixed IDs, a fixed clock and every random byte 0xAB. */
function setup(options: { burst?: number; maxSessions?: number } = {}) {
  const failures: string[] = [];
  const opened: Lan15Session[] = [];
  const table = new CountingTable(options.maxSessions ?? 4, 60_000, 5_000);
  const accounts = () => [ADMIN, VIEWER, LONG];
  const lan15 = new Lan15Sessions({
    table,
    accounts,
    guard: new LoginGuard(
      { sourceBurst: options.burst ?? 100, sourceRefillMs: 60_000, accountBurst: 100 },
      accounts,
      () => 1_000,
    ),
    allowAuthTypeNone: false,
    onAuthFailure: (_source, user, reason) => failures.push(`${user}: ${reason}`),
    onSessionOpened: (s) => opened.push(s),
    now: () => 1_000,
    randomBytes: (n) => Buffer.alloc(n, 0xab),
  });
  return { lan15, table, failures, opened };
}

function userName(name: string): Buffer {
  const b = Buffer.alloc(16);
  b.write(name, 'latin1');
  return b;
}

function challengePacket(authType: number, name: string, rqSeq = 1): Buffer {
  const message = encodeRequest({
    netFn: NETFN_APP,
    cmd: CMD_GET_SESSION_CHALLENGE,
    rqSeq,
    data: Buffer.concat([Buffer.from([authType]), userName(name)]),
  });
  return encodeLan15({ authType: AUTH_NONE, sequence: 0, sessionId: 0, message });
}

/** A packet from the console, authenticated with `password` under `authType`. */
function consolePacket(
  authType: number,
  password: string,
  sessionId: number,
  sequence: number,
  req: { cmd: number; data?: Buffer; netFn?: number },
): Buffer {
  const message = encodeRequest({ netFn: req.netFn ?? NETFN_APP, cmd: req.cmd, rqSeq: 2, data: req.data });
  const pw = Buffer.from(password);
  return encodeLan15({
    authType,
    sequence,
    sessionId,
    message,
    authCode: (m) => (authType === AUTH_PASSWORD ? pad16(pw) : md5AuthCode(pw, sessionId, sequence, m)),
  });
}

function activateData(authType: number, privilege: number, challenge: Buffer, outboundSeq: number): Buffer {
  const d = Buffer.alloc(22);
  d[0] = authType;
  d[1] = privilege;
  challenge.copy(d, 2);
  d.writeUInt32LE(outboundSeq, 18);
  return d;
}

/** Activate Session in the temporary session TEMP_ID, authenticated with `password`. */
function activatePacket(authType: number, password: string, data: Buffer): Buffer {
  return consolePacket(authType, password, TEMP_ID, 0, { cmd: CMD_ACTIVATE_SESSION, data });
}

function sent(step: Lan15Step): Buffer {
  assert.equal(step.kind, 'send', `expected an answer, got ${step.kind}`);
  return (step as Extract<Lan15Step, { kind: 'send' }>).packet;
}

/** The IPMI response in the packet the BMC answers `pkt` with (it must answer). */
function answer(lan15: Lan15Sessions, pkt: Buffer): IpmiResponse {
  return decodeResponse(decodeLan15(sent(lan15.receive(pkt, SOURCE)))!.message)!;
}

/** Get Session Challenge for `name`, returning the challenge the BMC stored. */
function challengeFor(lan15: Lan15Sessions, authType: number, name: string): Buffer {
  const reply = answer(lan15, challengePacket(authType, name));
  assert.equal(reply.completionCode, 0);
  return reply.data.subarray(4, 20);
}

test('Get Session Challenge for the straight password type (the password in clear) → 0xCC, no challenge', () => {
  const { lan15 } = setup();
  assert.equal(answer(lan15, challengePacket(AUTH_PASSWORD, 'admin')).completionCode, 0xcc);
  assert.equal(lan15.pendingCount, 0);
  assert.equal(lan15.authTypeAllowed(AUTH_PASSWORD), false);
  assert.equal(lan15.authTypeAllowed(AUTH_MD5), true);
});

test('Get Session Challenge: request bytes in, exact response packet out', () => {
  const { lan15 } = setup();
  const step = lan15.receive(challengePacket(AUTH_MD5, 'admin'), SOURCE);
  assert.equal(step.kind, 'send');
  assert.deepEqual((step as { to: Source }).to, SOURCE);
  assert.deepEqual(
    sent(step),
    hex(
      [
        '06 00 ff 07', // RMCP: version, reserved, sequence (no ack), class IPMI
        '00 00000000 00000000', // auth type NONE, sequence 0, session ID 0
        '1c', // message length 28
        '81 1c 63', // rqAddr, netFn App response and rqLun, checksum
        '20 04 39', // rsAddr, rqSeq 1 and rsLun, cmd Get Session Challenge
        '00', // completion code OK
        '04030201', // temporary session ID 0x01020304 (LE)
        'ab'.repeat(16), // the challenge
        'e9', // checksum
      ].join(''),
    ),
  );
});

test('Get Session Challenge: refusals carry the command-specific completion codes', () => {
  const { lan15, failures } = setup();
  const cc = (pkt: Buffer) => answer(lan15, pkt).completionCode;
  assert.equal(cc(challengePacket(AUTH_NONE, 'admin')), 0xcc, 'auth type NONE not allowed');
  assert.equal(cc(challengePacket(1, 'admin')), 0xcc, 'MD2 not offered');
  assert.equal(LAN15_CC.INVALID_USER_NAME, 0x81, 'defined, but not used: it would tell which names exist');
  assert.equal(cc(challengePacket(AUTH_MD5, '')), LAN15_CC.NULL_USER_NAME_DISABLED);
  assert.equal(LAN15_CC.NULL_USER_NAME_DISABLED, 0x82);
  const short = encodeLan15({
    authType: AUTH_NONE,
    sequence: 0,
    sessionId: 0,
    message: encodeRequest({
      netFn: NETFN_APP,
      cmd: CMD_GET_SESSION_CHALLENGE,
      rqSeq: 1,
      data: Buffer.from([2]),
    }),
  });
  assert.equal(cc(short), 0xc7, 'request data length invalid');
  assert.deepEqual(failures, []);
});

test('Get Session Challenge: unknown users and passwords 1.5 cannot carry get a challenge like anyone', () => {
  const { lan15, failures, table } = setup();
  for (const name of ['nobody', 'long', 'Admin']) {
    const reply = answer(lan15, challengePacket(AUTH_MD5, name));
    assert.equal(reply.completionCode, 0, name);
    assert.equal(reply.data.length, 20, name);
    const id = reply.data.readUInt32LE(0);
    const pkt = consolePacket(AUTH_MD5, name === 'long' ? LONG.password : 'password', id, 0, {
      cmd: CMD_ACTIVATE_SESSION,
      data: activateData(AUTH_MD5, 4, reply.data.subarray(4, 20), 1),
    });
    assert.equal(lan15.receive(pkt, SOURCE).kind, 'drop', `${name}: the activation does not authenticate`);
  }
  assert.equal(table.size, 0);
  assert.deepEqual(failures, [
    'nobody: unknown user name',
    'long: password longer than 16 bytes cannot be used with IPMI 1.5',
    'Admin: unknown user name',
  ]);
});

test('Get Session Challenge: a source over its failed-login budget gets 0xC0 (node busy)', () => {
  const { lan15 } = setup({ burst: 1 });
  const cc = (pkt: Buffer) => answer(lan15, pkt).completionCode;
  const challenge = challengeFor(lan15, AUTH_MD5, 'admin');
  assert.equal(cc(challengePacket(AUTH_MD5, 'nobody')), 0, 'asking for a challenge costs nothing');
  assert.equal(cc(challengePacket(AUTH_MD5, 'admin')), 0);
  const wrong = activatePacket(AUTH_MD5, 'wrong', activateData(AUTH_MD5, 4, challenge, 1));
  assert.equal(lan15.receive(wrong, SOURCE).kind, 'drop');
  assert.equal(cc(challengePacket(AUTH_MD5, 'admin')), 0xc0);
});

test('outside a session: only auth type NONE and sequence 0; other commands run pre-session', () => {
  const { lan15 } = setup();
  const caps = encodeRequest({ netFn: NETFN_APP, cmd: 0x38, rqSeq: 1, data: Buffer.from([0x0e, 4]) });
  const step = lan15.receive(
    encodeLan15({ authType: AUTH_NONE, sequence: 0, sessionId: 0, message: caps }),
    SOURCE,
  );
  assert.equal(step.kind, 'sessionless');
  assert.equal((step as { req: { cmd: number } }).req.cmd, 0x38);
  const seq1 = encodeLan15({ authType: AUTH_NONE, sequence: 1, sessionId: 0, message: caps });
  assert.equal(lan15.receive(seq1, SOURCE).kind, 'drop');
  const pw = encodeLan15({
    authType: AUTH_PASSWORD,
    sequence: 0,
    sessionId: 0,
    message: caps,
    authCode: pad16(Buffer.alloc(0)),
  });
  assert.equal(lan15.receive(pw, SOURCE).kind, 'drop');
});

test('Activate Session: success answers in the new session with exact bytes', () => {
  const { lan15, opened, table } = setup();
  const challenge = challengeFor(lan15, AUTH_MD5, 'admin');
  const pkt = activatePacket(AUTH_MD5, 'password', activateData(AUTH_MD5, 4, challenge, 0x10));
  const step = lan15.receive(pkt, SOURCE);
  const reply = decodeLan15(sent(step))!;
  assert.equal(reply.authType, AUTH_MD5);
  assert.equal(reply.sessionId, TEMP_ID);
  assert.equal(reply.sequence, 0x10, "the BMC's first sequence number is the one the console asked for");
  assert.ok(verifyAuthCode(reply, Buffer.from('password')), 'the answer carries a valid MD5 auth code');
  const r = decodeResponse(reply.message)!;
  assert.equal(r.cmd, CMD_ACTIVATE_SESSION);
  assert.equal(r.completionCode, 0);
  // auth type MD5, session ID, first inbound sequence ((0xABABABAB & 0x7FFFFFFF) + 1), ADMIN
  assert.deepEqual(r.data, hex('02 04030201 acabab2b 04'));
  assert.equal(opened.length, 1);
  assert.equal(opened[0]!.outboundSeq, 0x11);
  assert.equal(table.get(TEMP_ID), opened[0]);
  assert.equal(lan15.pending(TEMP_ID), undefined, 'the temporary session is used up');
});

test('Activate Session with a wrong auth code is dropped, unanswered, and costs a login attempt', () => {
  const { lan15, failures, table } = setup();
  const challenge = challengeFor(lan15, AUTH_MD5, 'admin');
  const pkt = activatePacket(AUTH_MD5, 'wrong', activateData(AUTH_MD5, 4, challenge, 1));
  assert.equal(lan15.receive(pkt, SOURCE).kind, 'drop');
  assert.deepEqual(failures, ['admin: wrong password (1.5 auth code)']);
  assert.equal(lan15.pending(TEMP_ID), undefined, 'the challenge cannot be retried');
  assert.equal(table.size, 0);
});

test('Activate Session: authenticated refusals are answered in the temporary session', () => {
  const cases: Array<[string, (challenge: Buffer) => Buffer, number, BmcAccount]> = [
    ['short request data', () => Buffer.alloc(21), 0xc7, ADMIN],
    ['auth type differs from the challenge', (c) => activateData(AUTH_PASSWORD, 4, c, 1), 0xcc, ADMIN],
    ['privilege 0', (c) => activateData(AUTH_MD5, 0, c, 1), 0xcc, ADMIN],
    ['privilege above ADMIN', (c) => activateData(AUTH_MD5, 5, c, 1), 0xcc, ADMIN],
    [
      'privilege above the role',
      (c) => activateData(AUTH_MD5, 3, c, 1),
      LAN15_CC.PRIVILEGE_EXCEEDS_LIMIT,
      VIEWER,
    ],
  ];
  for (const [name, data, expected, account] of cases) {
    const { lan15, table } = setup();
    const challenge = challengeFor(lan15, AUTH_MD5, account.username);
    const pkt = activatePacket(AUTH_MD5, account.password, data(challenge));
    const reply = decodeLan15(sent(lan15.receive(pkt, SOURCE)))!;
    assert.equal(reply.sessionId, TEMP_ID, name);
    assert.equal(reply.sequence, 0, name);
    assert.ok(verifyAuthCode(reply, Buffer.from(account.password)), `${name}: authenticated`);
    assert.equal(decodeResponse(reply.message)!.completionCode, expected, name);
    assert.equal(table.size, 0, `${name}: no session`);
  }
  assert.equal(LAN15_CC.PRIVILEGE_EXCEEDS_LIMIT, 0x86);
});

test('Activate Session: no free slot → 0x81; a wrong challenge string is dropped', () => {
  const full = setup({ maxSessions: 0 });
  const c1 = challengeFor(full.lan15, AUTH_MD5, 'admin');
  const pkt = activatePacket(AUTH_MD5, 'password', activateData(AUTH_MD5, 4, c1, 1));
  assert.equal(answer(full.lan15, pkt).completionCode, 0x81);
  assert.equal(LAN15_CC.NO_SESSION_SLOT, 0x81);

  const { lan15 } = setup();
  challengeFor(lan15, AUTH_MD5, 'admin');
  const wrong = activatePacket(AUTH_MD5, 'password', activateData(AUTH_MD5, 4, Buffer.alloc(16, 1), 1));
  assert.equal(lan15.receive(wrong, SOURCE).kind, 'drop');
  assert.equal(lan15.pending(TEMP_ID), undefined);
});

test('in a temporary session only Activate Session is taken, from the challenged address', () => {
  const { lan15 } = setup();
  const challenge = challengeFor(lan15, AUTH_MD5, 'admin');
  const other = consolePacket(AUTH_MD5, 'password', TEMP_ID, 0, { cmd: 0x01 });
  assert.equal(lan15.receive(other, SOURCE).kind, 'drop');
  const activate = activatePacket(AUTH_MD5, 'password', activateData(AUTH_MD5, 4, challenge, 1));
  assert.equal(lan15.receive(activate, { address: '192.0.2.99', port: 623 }).kind, 'drop');
  const moved = lan15.receive(activate, { address: SOURCE.address, port: 40000 });
  assert.equal(moved.kind, 'send', 'the port may change (NAT), the address may not');
  assert.equal((moved as { to: Source }).to.port, 40000, 'answered where the activation came from');
});

test('active session: window, replay, auth code, and a retransmitted Activate Session', () => {
  const { lan15, opened } = setup();
  const challenge = challengeFor(lan15, AUTH_MD5, 'admin');
  const activation = activatePacket(AUTH_MD5, 'password', activateData(AUTH_MD5, 4, challenge, 1));
  const first = answer(lan15, activation);
  const s = opened[0]!;
  const start = s.activation.inboundStart;

  const again = decodeLan15(sent(lan15.receive(activation, SOURCE)))!;
  assert.equal(again.sequence, 2, 'answered again with the next outbound sequence number');
  assert.deepEqual(decodeResponse(again.message)!.data, first.data, 'same activation data');

  const status = (seq: number, password = 'password') =>
    lan15.receive(consolePacket(AUTH_MD5, password, TEMP_ID, seq, { netFn: 0x00, cmd: 0x01 }), SOURCE);
  const step = status(start);
  assert.equal(step.kind, 'command');
  assert.equal((step as { session: Lan15Session }).session, s);
  assert.equal(status(start).kind, 'drop', 'replayed sequence number');
  assert.equal(status(start + 100).kind, 'drop', 'far outside the window');
  assert.equal(status(start + 1, 'wrong').kind, 'drop', 'wrong auth code');
  assert.equal(status(start + 1).kind, 'command');
  assert.equal(
    lan15.receive(consolePacket(AUTH_MD5, 'password', TEMP_ID, 0, { cmd: 0x01 }), SOURCE).kind,
    'drop',
    'sequence 0 is only a retransmitted Activate Session',
  );
});

test('malformed and truncated packets are dropped, never thrown on', () => {
  const { lan15 } = setup();
  const good = challengePacket(AUTH_MD5, 'admin');
  for (let n = 0; n < good.length; n++) {
    assert.equal(lan15.receive(good.subarray(0, n), SOURCE).kind, 'drop', `truncated to ${n} bytes`);
  }
  const badChecksum = Buffer.from(good);
  badChecksum[badChecksum.length - 1]! ^= 0xff;
  assert.equal(lan15.receive(badChecksum, SOURCE).kind, 'drop');
  const unknownAuthType = Buffer.from(good);
  unknownAuthType[4] = 3;
  assert.equal(lan15.receive(unknownAuthType, SOURCE).kind, 'drop');
  let state = 7;
  for (let i = 0; i < 2000; i++) {
    const len = i % 64;
    const buf = Buffer.alloc(len);
    for (let j = 0; j < len; j++) {
      state = (state * 1103515245 + 12345) >>> 0;
      buf[j] = state >>> 24;
    }
    if (len > 4) buf.set([0x06, 0x00, 0xff, 0x07], 0);
    assert.doesNotThrow(() => lan15.receive(buf, SOURCE));
  }
});

test('message codecs: challenge and activate request/response layouts', () => {
  assert.equal(decodeChallengeRequest(Buffer.alloc(16)), null);
  assert.equal(decodeChallengeRequest(Buffer.alloc(18)), null);
  const req = decodeChallengeRequest(Buffer.concat([Buffer.from([0xf2]), userName('admin')]))!;
  assert.equal(req.authType, AUTH_MD5, 'upper nibble ignored');
  assert.equal(req.username.toString(), 'admin');
  assert.equal(decodeChallengeRequest(Buffer.alloc(17, 0x41))!.username.length, 16, 'no NUL: all 16 bytes');
  assert.deepEqual(
    encodeChallengeResponse(0xdeadbeef, Buffer.alloc(16, 7)),
    hex(`efbeadde ${'07'.repeat(16)}`),
  );

  assert.equal(decodeActivateRequest(Buffer.alloc(21)), null);
  const act = decodeActivateRequest(activateData(0x12, 0x34, Buffer.alloc(16, 9), 0x0a0b0c0d))!;
  assert.deepEqual(
    { ...act, challenge: [...act.challenge] },
    { authType: 2, maxPrivilege: 4, challenge: [...Buffer.alloc(16, 9)], outboundSeq: 0x0a0b0c0d },
  );
  const session = { authType: 4, id: 0x11223344, activation: { inboundStart: 0x55667788, maxPrivilege: 3 } };
  assert.deepEqual(encodeActivateResponse(session as Lan15Session), hex('04 44332211 88776655 03'));
});

test('encodeInSession: the session auth code, then the next sequence number (skipping 0)', () => {
  const s = {
    id: 9,
    authType: AUTH_PASSWORD,
    password: Buffer.from('pw'),
    outboundSeq: 0xffffffff,
  } as Lan15Session;
  const message = encodeRequest({ netFn: NETFN_APP | 1, cmd: 1, rqSeq: 0 });
  const a = decodeLan15(encodeInSession(s, message))!;
  const b = decodeLan15(encodeInSession(s, message))!;
  assert.equal(a.sequence, 0xffffffff);
  assert.equal(b.sequence, 1);
  assert.deepEqual(a.authCode, pad16(Buffer.from('pw')));
  assert.ok(verifyAuthCode(b, Buffer.from('pw')));
  assert.ok(!verifyAuthCode(b, Buffer.from('other')));
});
