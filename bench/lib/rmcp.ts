/**
 * A minimal RMCP+ (IPMI v2.0 LAN) console for load generation against any BMC: it opens a session
 * with cipher suite 3 or 17 (verifying RAKP 2 and RAKP 4 like a real console), builds encrypted
 * requests, checks and decrypts replies, and closes the session. Built on our codecs in src/ipmi.
 * Unlike test/support/ipmi-client.ts it talks to any host (IPv4 or IPv6), not only loopback.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
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
import { suiteById } from '../../src/ipmi/crypto/suites.ts';

export interface Target {
  host: string;
  port: number;
  username: string;
  password: string;
  /** Cipher suite: 3 (HMAC-SHA1, AES-CBC-128) or 17 (HMAC-SHA256, AES-CBC-128). */
  suite: number;
  /** Requested maximum privilege (default 4, Administrator). */
  privilege?: number;
  /** Per-step timeout of the handshake (default 1000 ms). */
  timeoutMs?: number;
}

export class RmcpConsole {
  readonly socket: Socket;
  keys!: SessionKeys;
  bmcSessionId = 0;
  consoleSessionId = 0;
  seq = 1;
  rqSeq = 0;
  /** Called with every datagram that arrives once the session is open. */
  onMessage: ((m: Buffer) => void) | null = null;
  #waiter: ((m: Buffer) => void) | null = null;

  private constructor(readonly target: Target) {
    this.socket = createSocket(isIPv6(target.host) ? 'udp6' : 'udp4');
    this.socket.on('message', (m) => {
      if (this.#waiter) this.#waiter(m);
      else this.onMessage?.(m);
    });
    this.socket.on('error', () => {});
  }

  /** Opens a session; rejects with a clear message when a step fails or times out. */
  static async open(target: Target): Promise<RmcpConsole> {
    const c = new RmcpConsole(target);
    await new Promise<void>((r) => c.socket.bind(0, () => r()));
    try {
      await c.#handshake();
    } catch (err) {
      c.close();
      throw err;
    }
    return c;
  }

  #exchange(pkt: Buffer): Promise<Buffer> {
    const timeoutMs = this.target.timeoutMs ?? 1000;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.#waiter = null;
        reject(new Error(`no reply from ${this.target.host}:${this.target.port} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiter = (m) => {
        clearTimeout(t);
        this.#waiter = null;
        resolve(m);
      };
      this.send(pkt);
    });
  }

  send(pkt: Buffer): void {
    this.socket.send(pkt, this.target.port, this.target.host);
  }

  async #handshake(): Promise<void> {
    const o = this.target;
    const suite = suiteById(o.suite);
    if (!suite?.encrypted) throw new Error(`cipher suite ${o.suite} is not one of 3, 17`);
    this.consoleSessionId = (randomBytes(4).readUInt32LE(0) | 1) >>> 0;
    const r1 = await this.#exchange(
      encodeUnauthenticated(
        0x10,
        encodeOpenSessionRequest({
          tag: 1,
          privilege: 0,
          consoleSessionId: this.consoleSessionId,
          auth: suite.auth,
          integrity: suite.integrity,
          confidentiality: suite.confidentiality,
        }),
      ),
    );
    const osr = decodeOpenSessionResponse(r1.subarray(16));
    if (osr?.status !== 0) throw new Error(`Open Session refused (status ${osr?.status})`);
    this.bmcSessionId = osr.bmcSessionId;
    const rm = randomBytes(16);
    const username = Buffer.from(o.username);
    const role = 0x10 | (o.privilege ?? 4);
    const r2 = await this.#exchange(
      encodeUnauthenticated(
        0x12,
        encodeRakp1({ tag: 2, bmcSessionId: this.bmcSessionId, rm, role, username }),
      ),
    );
    const rakp2 = decodeRakp2(r2.subarray(16));
    if (rakp2?.status !== 0) throw new Error(`RAKP 2 refused (status ${rakp2?.status}): wrong user?`);
    const password = Buffer.from(o.password);
    const inputs = {
      hash: suite.hash,
      consoleSessionId: this.consoleSessionId,
      bmcSessionId: this.bmcSessionId,
      rm,
      rc: rakp2.rc,
      guid: rakp2.guid,
      role,
      username,
    } as const;
    if (!rakp2AuthCode(password, inputs).equals(rakp2.authCode))
      throw new Error('RAKP 2 HMAC does not match: wrong password?');
    const r3 = await this.#exchange(
      encodeUnauthenticated(
        0x14,
        encodeRakp3({
          tag: 3,
          status: 0,
          bmcSessionId: this.bmcSessionId,
          authCode: rakp3AuthCode(password, inputs),
        }),
      ),
    );
    const rakp4 = decodeRakp4(r3.subarray(16));
    if (rakp4?.status !== 0) throw new Error(`RAKP 4 refused (status ${rakp4?.status})`);
    const sik = sessionIntegrityKey(password, inputs);
    if (!rakp4Icv(sik, inputs).equals(rakp4.icv)) throw new Error('RAKP 4 ICV does not match');
    const { k1, k2 } = deriveKeys(suite.hash, sik);
    this.keys = {
      integrityHash: suite.integrityHash,
      authCodeLength: suite.authCodeLength,
      k1,
      aesKey: k2.subarray(0, 16),
    };
  }

  /** The next encrypted in-session request (advances both sequence numbers). */
  request(netFn: number, cmd: number, data: number[] = []): Buffer {
    this.rqSeq = (this.rqSeq + 1) & 0x3f;
    const msg = encodeRequest({ netFn, cmd, data: Buffer.from(data), rqSeq: this.rqSeq });
    const pkt = encodeSessionPacket(this.keys, 0, this.bmcSessionId, this.seq, msg, randomIv());
    this.seq = (this.seq + 1) >>> 0 || 1;
    return pkt;
  }

  /** Verifies and decrypts a reply; null when it is not a valid reply of this session. */
  parse(pkt: Buffer): IpmiResponse | null {
    const h = decodeRmcpPlusHeader(pkt);
    if (!h || h.sessionId !== this.consoleSessionId || h.payloadType !== 0) return null;
    const payload = openSessionPacket(this.keys, h, pkt);
    return payload ? decodeResponse(Buffer.from(payload)) : null;
  }

  /** One request, one reply (for probes, not for load). */
  call(netFn: number, cmd: number, data: number[] = [], timeoutMs = 1000): Promise<IpmiResponse> {
    return new Promise((resolve, reject) => {
      const pkt = this.request(netFn, cmd, data);
      const seq = this.rqSeq;
      const t = setTimeout(() => {
        this.onMessage = null;
        reject(new Error(`no reply to netFn ${netFn} cmd ${cmd}`));
      }, timeoutMs);
      this.onMessage = (m) => {
        const r = this.parse(m);
        if (!r || r.rqSeq !== seq) return;
        clearTimeout(t);
        this.onMessage = null;
        resolve(r);
      };
      this.send(pkt);
    });
  }

  /** Closes the session on the BMC (best effort), then the socket. */
  async close(): Promise<void> {
    if (this.keys) {
      const id = Buffer.alloc(4);
      id.writeUInt32LE(this.bmcSessionId);
      await this.call(0x06, 0x3c, [...id], 500).catch(() => {});
    }
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}

export const GET_CHASSIS_STATUS = { netFn: 0x00, cmd: 0x01 } as const;
