/**
 * Attack traffic for the IPMI login-policy tests, all on 127.0.0.0/8 (every address of it works on
 * Linux loopback): a UDP relay that delays each datagram (a console "50 ms away"), and a bounded
 * flood of Open Session requests (optionally followed by RAKP 1, as a flooder that can receive our
 * replies would send) from one or many source addresses.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import {
  decodeOpenSessionResponse,
  encodeOpenSessionRequest,
  encodeRakp1,
} from '../../src/ipmi/codec/handshake.ts';
import { encodeUnauthenticated } from '../../src/ipmi/codec/rmcpplus.ts';

function bind(socket: Socket, address: string, port = 0): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

function closeQuietly(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      s.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

/**
 * A relay on 127.0.0.1 that forwards every datagram after `delayMs`, both ways: consoles talk to
 * `relay.port` and the BMC sees them arrive from 127.0.0.1 (one upstream socket per console).
 */
export class DelayRelay {
  readonly #front: Socket;
  readonly #upstreams = new Map<string, Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly forwarded = { toBmc: 0, toConsole: 0 };
  #closed = false;

  private constructor(
    front: Socket,
    readonly target: number,
    readonly delayMs: number,
  ) {
    this.#front = front;
    front.on('message', (msg, rinfo) => this.#fromConsole(msg, rinfo));
  }

  static async start(target: number, delayMs: number): Promise<DelayRelay> {
    const front = createSocket('udp4');
    await bind(front, '127.0.0.1');
    return new DelayRelay(front, target, delayMs);
  }

  get port(): number {
    return this.#front.address().port;
  }

  #later(fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (!this.#closed) fn();
    }, this.delayMs);
    this.#timers.add(t);
  }

  #fromConsole(msg: Buffer, rinfo: RemoteInfo): void {
    const key = `${rinfo.address}:${rinfo.port}`;
    let up = this.#upstreams.get(key);
    if (!up) {
      const socket = createSocket('udp4');
      socket.bind(0, '127.0.0.1');
      socket.on('message', (reply) =>
        this.#later(() => {
          this.forwarded.toConsole++;
          this.#front.send(reply, rinfo.port, rinfo.address);
        }),
      );
      this.#upstreams.set(key, socket);
      up = socket;
    }
    const upstream = up;
    this.#later(() => {
      this.forwarded.toBmc++;
      upstream.send(msg, this.target, '127.0.0.1');
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await Promise.all([this.#front, ...this.#upstreams.values()].map(closeQuietly));
  }
}

/** `127.0.0.<from>` … `127.0.0.<to>`. */
export function loopbackAddresses(from: number, to: number): string[] {
  const out: string[] = [];
  for (let i = from; i <= to; i++) out.push(`127.0.0.${i}`);
  return out;
}

export interface FloodOptions {
  /** The BMC's UDP port on 127.0.0.1. */
  port: number;
  /** Source addresses; one socket each, packets spread evenly. */
  addresses: string[];
  /** Packets per second, all addresses together. */
  rate: number;
  /** Hard bound on the flood's duration, whatever the test does. */
  maxMs: number;
  /** Answer each Open Session Response with a RAKP 1 for this user name (a reachable flooder). */
  rakp1User?: string;
}

export interface FloodStats {
  /** Open Session requests sent. */
  sent: number;
  /** Open Session Responses received (any status). */
  answered: number;
  /** Of those, how many granted a session. */
  granted: number;
  /** RAKP 1 sent and RAKP 2 received (with `rakp1User`). */
  rakp1: number;
  rakp2: number;
  ms: number;
}

/**
 * A flood of Open Session requests (random console session IDs, suites 3 and 17), at `rate`
 * packets per second from `addresses`, until `stop()` or `maxMs`. Nothing in it is timed by an
 * assertion; the statistics only show the flood ran.
 */
export class OpenSessionFlood {
  readonly stats: FloodStats = { sent: 0, answered: 0, granted: 0, rakp1: 0, rakp2: 0, ms: 0 };
  readonly #sockets: Socket[];
  readonly #o: FloodOptions;
  readonly #t0 = Date.now();
  #timer: NodeJS.Timeout | null = null;
  #bound: NodeJS.Timeout | null = null;
  #next = 0;
  #credit = 0;
  #last = Date.now();
  #done: Promise<FloodStats> | null = null;

  private constructor(sockets: Socket[], o: FloodOptions) {
    this.#sockets = sockets;
    this.#o = o;
    for (const s of sockets) s.on('message', (m) => this.#reply(s, m));
  }

  static async start(o: FloodOptions): Promise<OpenSessionFlood> {
    const sockets: Socket[] = [];
    for (const a of o.addresses) {
      const s = createSocket('udp4');
      s.on('error', () => {});
      await bind(s, a);
      sockets.push(s);
    }
    const f = new OpenSessionFlood(sockets, o);
    f.#timer = setInterval(() => f.#tick(), 10);
    f.#bound = setTimeout(() => void f.stop(), o.maxMs);
    return f;
  }

  #tick(): void {
    const now = Date.now();
    this.#credit = Math.min(this.#o.rate, this.#credit + ((now - this.#last) * this.#o.rate) / 1000);
    this.#last = now;
    while (this.#credit >= 1) {
      this.#credit--;
      const s = this.#sockets[this.#next++ % this.#sockets.length]!;
      const suite17 = (this.stats.sent & 1) === 1;
      const open = encodeOpenSessionRequest({
        tag: this.stats.sent & 0xff,
        privilege: 0,
        consoleSessionId: (randomBytes(4).readUInt32LE(0) | 1) >>> 0,
        auth: suite17 ? 3 : 1,
        integrity: suite17 ? 4 : 1,
        confidentiality: 1,
      });
      s.send(encodeUnauthenticated(0x10, open), this.#o.port, '127.0.0.1');
      this.stats.sent++;
    }
  }

  #reply(s: Socket, m: Buffer): void {
    if (m.length < 17) return;
    const type = m[5]! & 0x3f;
    if (type === 0x13) {
      this.stats.rakp2++;
      return;
    }
    if (type !== 0x11) return;
    this.stats.answered++;
    const r = decodeOpenSessionResponse(m.subarray(16));
    if (r?.status !== 0) return;
    this.stats.granted++;
    if (this.#o.rakp1User === undefined || this.#done) return;
    const rakp1 = encodeRakp1({
      tag: 2,
      bmcSessionId: r.bmcSessionId,
      rm: randomBytes(16),
      role: 0x14,
      username: Buffer.from(this.#o.rakp1User),
    });
    s.send(encodeUnauthenticated(0x12, rakp1), this.#o.port, '127.0.0.1');
    this.stats.rakp1++;
  }

  /** Stops sending (idempotent) and closes the sockets. */
  stop(): Promise<FloodStats> {
    if (!this.#done) {
      if (this.#timer) clearInterval(this.#timer);
      if (this.#bound) clearTimeout(this.#bound);
      this.stats.ms = Date.now() - this.#t0;
      this.#done = Promise.all(this.#sockets.map(closeQuietly)).then(() => this.stats);
    }
    return this.#done;
  }
}
