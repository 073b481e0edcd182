import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
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

/**
 * A small RMCP+ console of our own, for the fuzz test and the benchmark (interop tests use the real
 * clients). It verifies RAKP2 and RAKP4 like a real console and speaks one request at a time.
 */
export class RmcpPlusClient {
  readonly socket: Socket;
  suite!: CipherSuite;
  keys!: SessionKeys;
  bmcSessionId = 0;
  consoleSessionId = 0;
  seq = 1;
  rqSeq = 0;
  #waiter: ((msg: Buffer) => void) | null = null;

  private constructor(
    readonly host: string,
    readonly port: number,
  ) {
    this.socket = createSocket('udp4');
    this.socket.on('message', (m) => {
      const w = this.#waiter;
      if (w) w(m);
    });
  }

  static async connect(
    port: number,
    opts: { username: string; password: string; suite: number; privilege?: number; host?: string },
  ): Promise<RmcpPlusClient> {
    const c = new RmcpPlusClient(opts.host ?? '127.0.0.1', port);
    await new Promise<void>((r) => c.socket.bind(0, '127.0.0.1', () => r()));
    try {
      await c.#handshake(opts);
    } catch (err) {
      c.close();
      throw err;
    }
    return c;
  }

  /** Sends raw bytes and waits for the next datagram (or null after `timeoutMs`). */
  exchange(pkt: Buffer, timeoutMs = 1000): Promise<Buffer | null> {
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
      this.socket.send(pkt, this.port, this.host);
    });
  }

  /** Sends raw bytes without waiting. */
  sendRaw(pkt: Buffer): void {
    this.socket.send(pkt, this.port, this.host);
  }

  async #handshake(o: {
    username: string;
    password: string;
    suite: number;
    privilege?: number;
  }): Promise<void> {
    const suite = suiteById(o.suite);
    if (!suite) throw new Error(`unsupported suite ${o.suite}`);
    this.suite = suite;
    this.consoleSessionId = (randomBytes(4).readUInt32LE(0) | 1) >>> 0;
    const open = encodeOpenSessionRequest({
      tag: 1,
      privilege: 0,
      consoleSessionId: this.consoleSessionId,
      auth: suite.auth,
      integrity: suite.integrity,
      confidentiality: suite.confidentiality,
    });
    const r1 = await this.exchange(encodeUnauthenticated(0x10, open));
    const osr = r1 && decodeOpenSessionResponse(r1.subarray(16));
    if (osr?.status !== 0) throw new Error(`Open Session failed: status ${osr?.status}`);
    this.bmcSessionId = osr.bmcSessionId;
    const rm = randomBytes(16);
    const username = Buffer.from(o.username);
    const role = 0x10 | (o.privilege ?? 4);
    const r2 = await this.exchange(
      encodeUnauthenticated(
        0x12,
        encodeRakp1({ tag: 2, bmcSessionId: this.bmcSessionId, rm, role, username }),
      ),
    );
    const rakp2 = r2 && decodeRakp2(r2.subarray(16));
    if (rakp2?.status !== 0) throw new Error(`RAKP2 status ${rakp2?.status}`);
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
    if (!rakp2AuthCode(password, inputs).equals(rakp2.authCode)) throw new Error('RAKP 2 HMAC is invalid');
    const r3 = await this.exchange(
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
    const rakp4 = r3 && decodeRakp4(r3.subarray(16));
    if (rakp4?.status !== 0) throw new Error(`RAKP4 status ${rakp4?.status}`);
    const sik = sessionIntegrityKey(password, inputs);
    if (!rakp4Icv(sik, inputs).equals(rakp4.icv)) throw new Error('RAKP 4 ICV is invalid');
    const { k1, k2 } = deriveKeys(suite.hash, sik);
    this.keys = {
      integrityHash: suite.integrityHash,
      authCodeLength: suite.authCodeLength,
      k1,
      aesKey: suite.encrypted ? k2.subarray(0, 16) : null,
    };
  }

  /** Builds the next in-session request packet (advancing sequence numbers). */
  buildRequest(netFn: number, cmd: number, data: number[] = [], retransmit = false): Buffer {
    if (!retransmit) this.rqSeq = (this.rqSeq + 1) & 0x3f;
    const msg = encodeRequest({ netFn, cmd, data: Buffer.from(data), rqSeq: this.rqSeq });
    const pkt = encodeSessionPacket(this.keys, 0, this.bmcSessionId, this.seq, msg, randomIv());
    this.seq = (this.seq + 1) >>> 0 || 1;
    return pkt;
  }

  /** Verifies and decodes a reply packet; null when it is not a valid reply for this session. */
  parseReply(pkt: Buffer): IpmiResponse | null {
    const h = decodeRmcpPlusHeader(pkt);
    if (!h || h.sessionId !== this.consoleSessionId || h.payloadType !== 0) return null;
    const payload = openSessionPacket(this.keys, h, pkt);
    return payload ? decodeResponse(Buffer.from(payload)) : null;
  }

  async request(netFn: number, cmd: number, data: number[] = [], timeoutMs = 1000): Promise<IpmiResponse> {
    const reply = await this.exchange(this.buildRequest(netFn, cmd, data), timeoutMs);
    if (!reply) throw new Error(`no reply to netFn ${netFn} cmd ${cmd}`);
    const r = this.parseReply(reply);
    if (!r) throw new Error('malformed reply');
    return r;
  }

  close(): void {
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}
