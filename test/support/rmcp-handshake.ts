/**
 * The console side of an RMCP+ session, over any transport: the Open Session and RAKP 1-4
 * handshake (checking the BMC's RAKP 2 HMAC and RAKP 4 ICV as a real console does), and the
 * in-session request and reply packets. Shared by the test client (`ipmi-client.ts`) and the load
 * generator (`bench/lib/rmcp.ts`).
 */
import { randomBytes } from 'node:crypto';
import {
  decodeOpenSessionResponse,
  decodeRakp2,
  decodeRakp4,
  encodeOpenSessionRequest,
  encodeRakp1,
  encodeRakp3,
} from '../../src/ipmi/codec/handshake.ts';
import { decodeResponse, encodeRequest, type IpmiResponse } from '../../src/ipmi/codec/message.ts';
import {
  decodeRmcpPlusHeader,
  encodeSessionPacket,
  encodeUnauthenticated,
  openSessionPacket,
} from '../../src/ipmi/codec/rmcpplus.ts';
import { randomIv, type SessionKeys } from '../../src/ipmi/crypto/packet.ts';
import {
  deriveKeys,
  rakp2AuthCode,
  rakp3AuthCode,
  rakp4Icv,
  sessionIntegrityKey,
} from '../../src/ipmi/crypto/rakp.ts';
import { type CipherSuite, suiteById } from '../../src/ipmi/crypto/suites.ts';

export interface ConsoleSession {
  suite: CipherSuite;
  keys: SessionKeys;
  bmcSessionId: number;
  consoleSessionId: number;
}

export interface Credentials {
  username: string;
  password: string;
  suite: number;
  /** Requested maximum privilege (default 4, Administrator). */
  privilege?: number;
  /**
   * When RAKP 2 does not verify with `password`, send RAKP 3 with our (wrong) proof anyway, as a
   * password guesser does, and report the BMC's RAKP 4 verdict instead of failing at RAKP 2.
   */
  proveAnyway?: boolean;
}

export type HandshakeStep = 'open' | 'rakp2' | 'rakp2-hmac' | 'rakp4' | 'rakp4-icv';

/** A refused or unverifiable handshake step; `status` is the BMC's status code, if it sent one. */
export class HandshakeError extends Error {
  constructor(
    readonly step: HandshakeStep,
    readonly status: number | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'HandshakeError';
  }
}

/**
 * Opens a session. `exchange` sends a packet and gives the next datagram (null: none came); it
 * may also reject, and that error is passed on.
 */
export async function rmcpHandshake(
  exchange: (pkt: Buffer) => Promise<Buffer | null>,
  o: Credentials,
): Promise<ConsoleSession> {
  const suite = suiteById(o.suite);
  if (!suite) throw new Error(`unsupported suite ${o.suite}`);
  const consoleSessionId = (randomBytes(4).readUInt32LE(0) | 1) >>> 0;
  const r1 = await exchange(
    encodeUnauthenticated(
      0x10,
      encodeOpenSessionRequest({
        tag: 1,
        privilege: 0,
        consoleSessionId,
        auth: suite.auth,
        integrity: suite.integrity,
        confidentiality: suite.confidentiality,
      }),
    ),
  );
  const osr = r1 && decodeOpenSessionResponse(r1.subarray(16));
  if (osr?.status !== 0)
    throw new HandshakeError('open', osr?.status, `Open Session failed: status ${osr?.status}`);
  const bmcSessionId = osr.bmcSessionId;
  const rm = randomBytes(16);
  const username = Buffer.from(o.username);
  const role = 0x10 | (o.privilege ?? 4);
  const r2 = await exchange(
    encodeUnauthenticated(0x12, encodeRakp1({ tag: 2, bmcSessionId, rm, role, username })),
  );
  const rakp2 = r2 && decodeRakp2(r2.subarray(16));
  if (rakp2?.status !== 0) throw new HandshakeError('rakp2', rakp2?.status, `RAKP2 status ${rakp2?.status}`);
  const password = Buffer.from(o.password);
  const inputs = {
    hash: suite.hash,
    consoleSessionId,
    bmcSessionId,
    rm,
    rc: rakp2.rc,
    guid: rakp2.guid,
    role,
    username,
  } as const;
  const rakp2Valid = rakp2AuthCode(password, inputs).equals(rakp2.authCode);
  if (!rakp2Valid && !o.proveAnyway)
    throw new HandshakeError('rakp2-hmac', undefined, 'RAKP 2 HMAC is invalid');
  const r3 = await exchange(
    encodeUnauthenticated(
      0x14,
      encodeRakp3({ tag: 3, status: 0, bmcSessionId, authCode: rakp3AuthCode(password, inputs) }),
    ),
  );
  const rakp4 = r3 && decodeRakp4(r3.subarray(16));
  if (rakp4?.status !== 0) throw new HandshakeError('rakp4', rakp4?.status, `RAKP4 status ${rakp4?.status}`);
  if (!rakp2Valid) throw new HandshakeError('rakp2-hmac', undefined, 'RAKP 2 HMAC is invalid');
  const sik = sessionIntegrityKey(password, inputs);
  if (!rakp4Icv(sik, inputs).equals(rakp4.icv))
    throw new HandshakeError('rakp4-icv', undefined, 'RAKP 4 ICV is invalid');
  const { k1, k2 } = deriveKeys(suite.hash, sik);
  return {
    suite,
    bmcSessionId,
    consoleSessionId,
    keys: {
      integrityHash: suite.integrityHash,
      authCodeLength: suite.authCodeLength,
      k1,
      aesKey: suite.encrypted ? k2.subarray(0, 16) : null,
    },
  };
}

/** An in-session IPMI request packet with the given session and message sequence numbers. */
export function sessionRequest(
  s: ConsoleSession,
  seq: number,
  rqSeq: number,
  netFn: number,
  cmd: number,
  data: number[],
): Buffer {
  const msg = encodeRequest({ netFn, cmd, data: Buffer.from(data), rqSeq });
  return encodeSessionPacket(s.keys, 0, s.bmcSessionId, seq, msg, randomIv());
}

/** Verifies and decrypts a reply; null when it is not a valid reply of this session. */
export function sessionReply(s: ConsoleSession, pkt: Buffer): IpmiResponse | null {
  const h = decodeRmcpPlusHeader(pkt);
  if (!h || h.sessionId !== s.consoleSessionId || h.payloadType !== 0) return null;
  const payload = openSessionPacket(s.keys, h, pkt);
  return payload ? decodeResponse(Buffer.from(payload)) : null;
}
