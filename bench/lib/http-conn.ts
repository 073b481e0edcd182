/**
 * A minimal keep-alive HTTP/1.1 client connection for load generation: one request in flight,
 * responses framed by Content-Length (or chunked), over plain TCP or TLS (certificate not checked:
 * BMCs use self-signed ones). Much cheaper per request than fetch, so the server is what is measured.
 */
import net from 'node:net';
import tls from 'node:tls';

export interface HttpReply {
  status: number;
  head: string;
  body: Buffer;
}

export class HttpConn {
  readonly #socket: net.Socket;
  #buf: Buffer = Buffer.alloc(0);
  #pending: { resolve: (r: HttpReply) => void; reject: (e: Error) => void } | null = null;
  #closed: Error | null = null;
  readonly #ready: Promise<void>;

  constructor(
    readonly host: string,
    readonly port: number,
    readonly secure = false,
    /** A request without a reply after this long fails (and the connection is closed). */
    readonly timeoutMs = 10_000,
  ) {
    this.#socket = secure
      ? tls.connect({ host, port, rejectUnauthorized: false, servername: net.isIP(host) ? undefined : host })
      : net.connect(port, host);
    this.#socket.setNoDelay(true);
    this.#ready = new Promise((resolve, reject) => {
      this.#socket.once(secure ? 'secureConnect' : 'connect', () => resolve());
      this.#socket.once('error', reject);
    });
    this.#ready.catch(() => {});
    this.#socket.on('data', (chunk: Buffer) => {
      this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
      this.#parse();
    });
    const fail = (err: Error) => {
      this.#closed = err;
      const p = this.#pending;
      this.#pending = null;
      p?.reject(err);
    };
    this.#socket.on('error', fail);
    this.#socket.on('close', () => fail(new Error('connection closed')));
  }

  #parse(): void {
    if (!this.#pending) return;
    const end = this.#buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.#buf.subarray(0, end).toString('latin1');
    let body: Buffer;
    let rest: Buffer;
    const len = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (len) {
      const n = Number(len[1]);
      if (this.#buf.length < end + 4 + n) return;
      body = this.#buf.subarray(end + 4, end + 4 + n);
      rest = this.#buf.subarray(end + 4 + n);
    } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      const parts: Buffer[] = [];
      let at = end + 4;
      for (;;) {
        const nl = this.#buf.indexOf('\r\n', at);
        if (nl < 0) return;
        const size = Number.parseInt(this.#buf.subarray(at, nl).toString('latin1'), 16);
        if (this.#buf.length < nl + 2 + size + 2) return;
        if (size === 0) {
          rest = this.#buf.subarray(nl + 4);
          break;
        }
        parts.push(this.#buf.subarray(nl + 2, nl + 2 + size));
        at = nl + 2 + size + 2;
      }
      body = Buffer.concat(parts);
    } else {
      body = Buffer.alloc(0);
      rest = this.#buf.subarray(end + 4);
    }
    this.#buf = rest;
    const status = Number(head.slice(9, 12));
    const p = this.#pending;
    this.#pending = null;
    p.resolve({ status, head, body });
  }

  /** Sends one request; `headers` is raw header lines, each ending in \r\n. */
  async request(method: string, path: string, headers = '', body?: Buffer | string): Promise<HttpReply> {
    await this.#ready;
    if (this.#closed) throw this.#closed;
    if (this.#pending) throw new Error('one request at a time per connection');
    const b = body === undefined ? null : Buffer.from(body);
    const req = `${method} ${path} HTTP/1.1\r\nHost: ${this.host}\r\nConnection: keep-alive\r\n${headers}${b ? `Content-Length: ${b.length}\r\n` : ''}\r\n`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending = null;
        this.#closed = new Error(`no reply to ${method} ${path} within ${this.timeoutMs} ms`);
        this.#socket.destroy();
        reject(this.#closed);
      }, this.timeoutMs);
      this.#pending = {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.#socket.write(b ? Buffer.concat([Buffer.from(req, 'latin1'), b]) : req);
    });
  }

  close(): void {
    this.#socket.destroy();
  }
}
