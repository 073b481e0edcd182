import { createSocket, type Socket } from 'node:dgram';
import type { IpmiResponse } from '../../src/ipmi/codec/message.ts';
import type { SessionKeys } from '../../src/ipmi/crypto/packet.ts';
import type { CipherSuite } from '../../src/ipmi/crypto/suites.ts';
import { type Credentials, rmcpHandshake, sessionReply, sessionRequest } from './rmcp-handshake.ts';

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

  /** `bindAddress`: the local address to send from (any of 127.0.0.0/8; default 127.0.0.1). */
  static async connect(
    port: number,
    opts: Credentials & { host?: string; bindAddress?: string; timeoutMs?: number },
  ): Promise<RmcpPlusClient> {
    const c = new RmcpPlusClient(opts.host ?? '127.0.0.1', port);
    await new Promise<void>((r) => c.socket.bind(0, opts.bindAddress ?? '127.0.0.1', () => r()));
    try {
      await c.#handshake(opts, opts.timeoutMs);
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

  async #handshake(o: Credentials, timeoutMs?: number): Promise<void> {
    const s = await rmcpHandshake((pkt) => this.exchange(pkt, timeoutMs), o);
    this.suite = s.suite;
    this.keys = s.keys;
    this.bmcSessionId = s.bmcSessionId;
    this.consoleSessionId = s.consoleSessionId;
  }

  /** Builds the next in-session request packet (advancing sequence numbers). */
  buildRequest(netFn: number, cmd: number, data: number[] = [], retransmit = false): Buffer {
    if (!retransmit) this.rqSeq = (this.rqSeq + 1) & 0x3f;
    const pkt = sessionRequest(this, this.seq, this.rqSeq, netFn, cmd, data);
    this.seq = (this.seq + 1) >>> 0 || 1;
    return pkt;
  }

  /** Verifies and decodes a reply packet; null when it is not a valid reply for this session. */
  parseReply(pkt: Buffer): IpmiResponse | null {
    return sessionReply(this, pkt);
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
