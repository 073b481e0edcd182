import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

/** Whether a datagram is an RMCP+ packet carrying a SOL payload (type 1). */
export function isSolDatagram(buf: Buffer): boolean {
  return buf.length > 5 && buf[4] === 0x06 && (buf[5]! & 0x3f) === 1;
}

/**
 * A UDP relay on 127.0.0.1 between consoles and a BMC that drops the datagrams `drop` picks, so
 * tests can show SOL's acknowledgements and retransmissions at work. One upstream socket per
 * console address; bounded by the test that closes it.
 */
export class LossyRelay {
  readonly dropped = { toBmc: 0, toConsole: 0 };
  readonly passed = { toBmc: 0, toConsole: 0 };
  readonly #front: Socket;
  readonly #upstreams = new Map<string, Socket>();
  /** The BMC's port (may be set after the relay started). */
  target: number;
  readonly #drop: (direction: 'toBmc' | 'toConsole', buf: Buffer) => boolean;

  private constructor(front: Socket, target: number, drop: LossyRelay['drop']) {
    this.#front = front;
    this.target = target;
    this.#drop = drop;
    front.on('message', (msg, rinfo) => this.#fromConsole(msg, rinfo));
  }

  get drop() {
    return this.#drop;
  }

  /** `lowPort`: listen below 32768 (for ipmiconsole, see listenLowPort). */
  static async start(
    target: number,
    drop: (direction: 'toBmc' | 'toConsole', buf: Buffer) => boolean,
    lowPort = false,
  ): Promise<LossyRelay> {
    for (let i = 0; i < 50; i++) {
      const front = createSocket('udp4');
      const port = lowPort ? 20000 + Math.floor(Math.random() * 12000) : 0;
      const ok = await new Promise<boolean>((resolve) => {
        front.once('error', () => resolve(false));
        front.bind(port, '127.0.0.1', () => resolve(true));
      });
      if (ok) return new LossyRelay(front, target, drop);
      front.close();
    }
    throw new Error('no free UDP port for the relay');
  }

  get port(): number {
    return this.#front.address().port;
  }

  #fromConsole(msg: Buffer, rinfo: RemoteInfo): void {
    const key = `${rinfo.address}:${rinfo.port}`;
    let up = this.#upstreams.get(key);
    if (!up) {
      up = createSocket('udp4');
      up.bind(0, '127.0.0.1');
      up.on('message', (reply) => {
        if (this.#drop('toConsole', reply)) {
          this.dropped.toConsole++;
          return;
        }
        this.passed.toConsole++;
        this.#front.send(reply, rinfo.port, rinfo.address);
      });
      this.#upstreams.set(key, up);
    }
    if (this.#drop('toBmc', msg)) {
      this.dropped.toBmc++;
      return;
    }
    this.passed.toBmc++;
    up.send(msg, this.target, '127.0.0.1');
  }

  async close(): Promise<void> {
    for (const s of [this.#front, ...this.#upstreams.values()]) {
      await new Promise<void>((resolve) => {
        try {
          s.close(() => resolve());
        } catch {
          resolve();
        }
      });
    }
  }
}
