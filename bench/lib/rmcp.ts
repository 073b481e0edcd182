/**
 * A minimal RMCP+ (IPMI v2.0 LAN) console for load generation against any BMC: it opens a session
 * with cipher suite 3 or 17 (verifying RAKP 2 and RAKP 4 like a real console), builds encrypted
 * requests, checks and decrypts replies, and closes the session. Built on our codecs in src/ipmi.
 * Unlike test/support/ipmi-client.ts it talks to any host (IPv4 or IPv6), not only loopback; the
 * handshake and packets are test/support/rmcp-handshake.ts, shared with it.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { IpmiResponse } from '../../src/ipmi/codec/message.ts';
import type { SessionKeys } from '../../src/ipmi/crypto/packet.ts';
import { suiteById } from '../../src/ipmi/crypto/suites.ts';
import {
  type ConsoleSession,
  HandshakeError,
  rmcpHandshake,
  sessionReply,
  sessionRequest,
} from '../../test/support/rmcp-handshake.ts';

/** What the load generator tells its user when a handshake step fails. */
function hint(e: HandshakeError): string {
  switch (e.step) {
    case 'open':
      return `Open Session refused (status ${e.status})`;
    case 'rakp2':
      return `RAKP 2 refused (status ${e.status}): wrong user?`;
    case 'rakp2-hmac':
      return 'RAKP 2 HMAC does not match: wrong password?';
    case 'rakp4':
      return `RAKP 4 refused (status ${e.status})`;
    case 'rakp4-icv':
      return 'RAKP 4 ICV does not match';
  }
}

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
  #session: ConsoleSession | null = null;

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
    if (!suiteById(o.suite)?.encrypted) throw new Error(`cipher suite ${o.suite} is not one of 3, 17`);
    this.#session = await rmcpHandshake((pkt) => this.#exchange(pkt), o).catch((err: unknown) => {
      throw err instanceof HandshakeError ? new Error(hint(err)) : err;
    });
    this.keys = this.#session.keys;
    this.bmcSessionId = this.#session.bmcSessionId;
    this.consoleSessionId = this.#session.consoleSessionId;
  }

  /** The next encrypted in-session request (advances both sequence numbers). */
  request(netFn: number, cmd: number, data: number[] = []): Buffer {
    this.rqSeq = (this.rqSeq + 1) & 0x3f;
    const pkt = sessionRequest(this.#session!, this.seq, this.rqSeq, netFn, cmd, data);
    this.seq = (this.seq + 1) >>> 0 || 1;
    return pkt;
  }

  /** Verifies and decrypts a reply; null when it is not a valid reply of this session. */
  parse(pkt: Buffer): IpmiResponse | null {
    return this.#session ? sessionReply(this.#session, pkt) : null;
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
