/**
 * Fuzzing of the IPMI codec and server and of the Redfish service, bounded by a packet / request
 * count, reproducible from a seed. Servers run in this process over an in-memory machine so any
 * exception that escapes them is seen here (uncaughtException / unhandledRejection), as are error
 * logs (a handler that threw). Used by test/fuzz (small counts, in CI) and bench/fuzz.bench.ts
 * (the full run: hundreds of thousands of packets).
 */
import { createSocket } from 'node:dgram';
import net from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import {
  decodeOpenSessionRequest,
  decodeOpenSessionResponse,
  decodeRakp1,
  decodeRakp2,
  decodeRakp3,
  decodeRakp4,
  encodeOpenSessionRequest,
  encodeRakp1,
  encodeRakp3,
} from '../../src/ipmi/codec/handshake.ts';
import { decodeLan15, encodeLan15 } from '../../src/ipmi/codec/lan15.ts';
import { decodeRequest, decodeResponse, encodeRequest } from '../../src/ipmi/codec/message.ts';
import { decodeAsfPing, decodeRmcpHeader, encodeAsfPing } from '../../src/ipmi/codec/rmcp.ts';
import {
  decodeRmcpPlusHeader,
  encodeUnauthenticated,
  openSessionPacket,
} from '../../src/ipmi/codec/rmcpplus.ts';
import { IpmiServer } from '../../src/ipmi/server.ts';
import { RedfishServer } from '../../src/redfish/server.ts';
import { MemoryMachine } from '../../test/support/memory-machine.ts';
import { HttpConn } from './http-conn.ts';
import { RmcpConsole } from './rmcp.ts';

/** Deterministic PRNG (mulberry32) so a failure replays from its seed. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Random IPMI datagrams drawn from `rnd`: noise, RMCP-framed noise, and mutations (cut short, bits
 * flipped, wrong length fields, a bad last byte, a random or live session ID, garbage appended,
 * doubled, another auth or payload type) of valid packets: ASF ping; IPMI 1.5 Get Channel
 * Authentication Capabilities, Get Session Challenge, Activate Session and random in-session
 * requests; unauthenticated RMCP+ requests; Open Session; RAKP 1 and 3 with live (`ids`) or random
 * session IDs; and the last in-session packets of `captured`. Used by the fuzz bench and by
 * test/unit/ipmi/fuzz.test.ts.
 */
export function ipmiFuzzPackets(
  rnd: () => number,
  ids: readonly number[],
  captured: readonly Buffer[],
): () => Buffer {
  const int = (n: number) => Math.floor(rnd() * n);
  const bytes = (n: number) => {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = int(256);
    return b;
  };
  const templates = (): Buffer[] => {
    const sid = ids[int(ids.length)]!;
    return [
      encodeAsfPing(int(256)),
      encodeLan15({
        authType: 0,
        sequence: 0,
        sessionId: 0,
        message: encodeRequest({ netFn: 6, cmd: 0x38, rqSeq: int(64), data: Buffer.from([0x8e, 4]) }),
      }),
      encodeLan15({
        authType: 0,
        sequence: 0,
        sessionId: 0,
        message: encodeRequest({
          netFn: 6,
          cmd: 0x39,
          rqSeq: 1,
          data: Buffer.concat([Buffer.from([2]), Buffer.from('admin'.padEnd(16, '\0'))]),
        }),
      }),
      encodeLan15({
        authType: 2,
        sequence: 0,
        sessionId: sid,
        authCode: bytes(16),
        message: encodeRequest({ netFn: 6, cmd: 0x3a, rqSeq: 2, data: bytes(22) }),
      }),
      encodeLan15({
        authType: int(2) ? 2 : int(6),
        sequence: int(2 ** 32),
        sessionId: sid,
        authCode: bytes(16),
        message: encodeRequest({ netFn: int(64), cmd: int(256), rqSeq: int(64), data: bytes(int(30)) }),
      }),
      encodeUnauthenticated(
        0,
        encodeRequest({ netFn: int(64), cmd: int(256), rqSeq: int(64), data: bytes(int(20)) }),
      ),
      encodeUnauthenticated(
        0,
        encodeRequest({ netFn: 6, cmd: 0x54, rqSeq: 0, data: Buffer.from([0x0e, 0, 0x80 | int(3)]) }),
      ),
      encodeUnauthenticated(
        0x10,
        encodeOpenSessionRequest({
          tag: int(256),
          privilege: int(6),
          consoleSessionId: int(2 ** 32),
          auth: int(4),
          integrity: int(5),
          confidentiality: int(3),
        }),
      ),
      encodeUnauthenticated(
        0x12,
        encodeRakp1({
          tag: 1,
          bmcSessionId: int(2) ? sid : int(2 ** 32),
          rm: bytes(16),
          role: int(256),
          username: Buffer.from(['admin', 'x', '', 'a'.repeat(16), 'adm\0n'][int(5)]!),
        }),
      ),
      encodeUnauthenticated(
        0x14,
        encodeRakp3({
          tag: 1,
          status: int(2) ? 0 : int(256),
          bmcSessionId: sid,
          authCode: bytes([0, 20, 32][int(3)]!),
        }),
      ),
      ...captured.slice(-8),
    ];
  };
  const mutate = (b: Buffer): Buffer => {
    const p = Buffer.from(b);
    switch (int(9)) {
      case 0: // cut short
        return p.subarray(0, int(p.length + 1));
      case 1: // flip bits
        for (let i = 0, k = 1 + int(4); i < k && p.length; i++) p[int(p.length)]! ^= 1 << int(8);
        return p;
      case 2: // wrong length fields
        if (p.length > 16) p.writeUInt16LE(int(65536), 14);
        if (p.length > 13) p[13] = int(256);
        if (p.length > 29) p[29] = int(256);
        return p;
      case 3: // a bad last byte (checksum)
        if (p.length) p[p.length - 1]! ^= 0x5a;
        return p;
      case 4: // a random session ID, or a live one
        if (p.length > 13) p.writeUInt32LE(int(2) ? ids[int(ids.length)]! : int(2 ** 32), int(2) ? 6 : 9);
        return p;
      case 5: // garbage appended
        return Buffer.concat([p, bytes(1 + int(200))]);
      case 6: // replayed as is
        return p;
      case 7:
        return Buffer.concat([p, p]);
      default: // another auth type or payload type
        if (p.length > 5) p[int(2) ? 4 : 5] = int(256);
        return p;
    }
  };
  return () => {
    const kind = int(10);
    if (kind === 0) return bytes(int(400));
    if (kind === 1) return Buffer.concat([Buffer.from([6, 0, 0xff, int(2) ? 7 : 6]), bytes(int(100))]);
    const t = templates();
    return mutate(t[int(t.length)]!);
  };
}

/** Counts exceptions that escape to the process while `fn` runs. */
async function watchProcess<T>(fn: () => Promise<T>): Promise<{ value: T; escaped: string[] }> {
  const escaped: string[] = [];
  const onErr = (err: unknown) => escaped.push(String((err as Error)?.stack ?? err));
  process.on('uncaughtException', onErr);
  process.on('unhandledRejection', onErr);
  try {
    return { value: await fn(), escaped };
  } finally {
    process.off('uncaughtException', onErr);
    process.off('unhandledRejection', onErr);
  }
}

/** A pino logger collecting error-level lines (a handler that threw is logged at error). */
function collectingLogger(): { logger: pino.Logger; errors: string[]; clientAborts: { n: number } } {
  const errors: string[] = [];
  const clientAborts = { n: 0 };
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) {
        if (!line) continue;
        const o = JSON.parse(line) as { level: number; msg: string };
        // A client that hangs up mid-request ("aborted", ECONNRESET) is the client's doing: counted apart.
        if (/"code":"ECONNRESET"|"message":"aborted"/.test(line)) clientAborts.n++;
        else if (o.level >= 50 || /threw|dropped/i.test(o.msg)) errors.push(line.slice(0, 500));
      }
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), errors, clientAborts };
}

export interface IpmiFuzzReport {
  seed: number;
  packets: number;
  codecCalls: number;
  codecThrows: string[];
  replies: number;
  escaped: string[];
  errorLogs: string[];
  /** A valid session still answers Get Chassis Status after the flood. */
  aliveAfter: boolean;
  seconds: number;
}

export async function fuzzIpmi(packets: number, seed = 0x5eed): Promise<IpmiFuzzReport> {
  const t0 = Date.now();
  const { logger, errors } = collectingLogger();
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const { value, escaped } = await watchProcess(async () => {
    const machine = new MemoryMachine({ power: 'On' });
    const server = new IpmiServer({
      machine,
      accounts: () => [{ username: 'admin', password: 'Fuzz-pass1', role: 'Administrator' }],
      logger,
      loginLimits: { sourceBurst: 1_000_000, sourceRefillMs: 1000 },
      maxSessions: 64,
    });
    const { port } = await server.listen(0);
    const target = { host: '127.0.0.1', port, username: 'admin', password: 'Fuzz-pass1' };
    const sessions = [
      await RmcpConsole.open({ ...target, suite: 3 }),
      await RmcpConsole.open({ ...target, suite: 17 }),
    ];
    const ids = sessions.map((s) => s.bmcSessionId);
    const captured: Buffer[] = [];
    const fuzzer = createSocket('udp4');
    let replies = 0;
    fuzzer.on('message', () => replies++);
    await new Promise<void>((r) => fuzzer.bind(0, '127.0.0.1', () => r()));

    const nextPacket = ipmiFuzzPackets(rnd, ids, captured);

    // The pure codecs, called directly on the same inputs: they must return null, never throw.
    const codecThrows: string[] = [];
    let codecCalls = 0;
    const decoders: Array<[string, (b: Buffer) => unknown]> = [
      ['decodeRmcpHeader', decodeRmcpHeader],
      ['decodeAsfPing', decodeAsfPing],
      ['decodeRmcpPlusHeader', decodeRmcpPlusHeader],
      ['decodeLan15', decodeLan15],
      ['decodeRequest', decodeRequest],
      ['decodeResponse', decodeResponse],
      ['decodeOpenSessionRequest', decodeOpenSessionRequest],
      ['decodeOpenSessionResponse', decodeOpenSessionResponse],
      ['decodeRakp1', decodeRakp1],
      ['decodeRakp2', decodeRakp2],
      ['decodeRakp3', decodeRakp3],
      ['decodeRakp4', decodeRakp4],
      [
        'openSessionPacket',
        (b) => {
          const h = decodeRmcpPlusHeader(b);
          return h && openSessionPacket(sessions[int(2)]!.keys, h, b);
        },
      ],
    ];
    const codec = (pkt: Buffer) => {
      for (const [name, d] of decoders) {
        for (const input of [
          pkt,
          pkt.subarray(Math.min(pkt.length, 16)),
          pkt.subarray(Math.min(pkt.length, 4)),
        ]) {
          codecCalls++;
          try {
            d(input);
          } catch (err) {
            if (codecThrows.length < 20)
              codecThrows.push(`${name}(${input.toString('hex').slice(0, 120)}): ${String(err)}`);
          }
        }
      }
    };

    let sent = 0;
    let aliveAfter = true;
    try {
      while (sent < packets) {
        for (let i = 0; i < 200 && sent < packets; i++, sent++) {
          const pkt = nextPacket();
          if (sent % 4 === 0) codec(pkt);
          fuzzer.send(pkt, port, '127.0.0.1');
        }
        await new Promise((r) => setTimeout(r, 3));
        if (sent % 20_000 < 200) {
          const s = sessions[int(2)]!;
          const req = s.request(0x00, 0x01);
          captured.push(req);
          if (captured.length > 64) captured.shift();
        }
      }
      await new Promise((r) => setTimeout(r, 200));
      for (const s of sessions) {
        let ok = false;
        for (let attempt = 0; attempt < 5 && !ok; attempt++) {
          const r = await s.call(0x00, 0x01, [], 500).catch(() => null);
          ok = r?.completionCode === 0 && ((r.data[0] ?? 0) & 1) === 1;
        }
        aliveAfter &&= ok;
      }
    } finally {
      fuzzer.close();
      await Promise.all(sessions.map((s) => s.close()));
      await server.close();
      machine.dispose();
    }
    return { replies, codecCalls, codecThrows, aliveAfter, sent };
  });
  return {
    seed,
    packets: value.sent,
    codecCalls: value.codecCalls,
    codecThrows: value.codecThrows,
    replies: value.replies,
    escaped,
    errorLogs: errors.slice(0, 20),
    aliveAfter: value.aliveAfter,
    seconds: (Date.now() - t0) / 1000,
  };
}

export interface RedfishFuzzReport {
  seed: number;
  requests: number;
  statuses: Record<string, number>;
  /** Responses of 500 or more (a request the service did not handle). */
  serverErrors: string[];
  /** 4xx answers from the service without a DMTF error body ({"error": {...}}). */
  bareErrors: string[];
  escaped: string[];
  errorLogs: string[];
  /** Error-level log lines about clients hanging up mid-request (ECONNRESET "aborted"). */
  clientAbortLogs: number;
  aliveAfter: boolean;
  seconds: number;
}

const PATHS = [
  '/',
  '/redfish',
  '/redfish/v1',
  '/redfish/v1/',
  '/redfish/v1/$metadata',
  '/redfish/v1/odata',
  '/redfish/v1/Systems',
  '/redfish/v1/Systems/1',
  '/redfish/v1/Systems/1/Actions/ComputerSystem.Reset',
  '/redfish/v1/Systems/1/Bios',
  '/redfish/v1/Systems/1/SecureBoot',
  '/redfish/v1/Systems/1/EthernetInterfaces',
  '/redfish/v1/Systems/1/Storage',
  '/redfish/v1/Managers',
  '/redfish/v1/Managers/BMC',
  '/redfish/v1/Managers/BMC/VirtualMedia',
  '/redfish/v1/Managers/BMC/VirtualMedia/Cd',
  '/redfish/v1/Managers/BMC/VirtualMedia/Cd/Actions/VirtualMedia.InsertMedia',
  '/redfish/v1/Managers/BMC/VirtualMedia/Cd/Actions/VirtualMedia.EjectMedia',
  '/redfish/v1/Chassis',
  '/redfish/v1/Chassis/1',
  '/redfish/v1/SessionService',
  '/redfish/v1/SessionService/Sessions',
  '/redfish/v1/AccountService',
  '/redfish/v1/AccountService/Accounts',
  '/redfish/v1/AccountService/Accounts/1',
  '/redfish/v1/TaskService/Tasks',
  '/redfish/v1/EventService',
  '/redfish/v1/EventService/Subscriptions',
  '/redfish/v1/Registries',
  '/redfish/v1/JsonSchemas',
  '/redfish/v1/UpdateService',
];
const METHODS = [
  'GET',
  'GET',
  'GET',
  'POST',
  'POST',
  'PATCH',
  'PATCH',
  'PUT',
  'DELETE',
  'HEAD',
  'OPTIONS',
  'TRACE',
  'FOO',
  'get',
  'PROPFIND',
];
const QUERIES = [
  '',
  '?$expand=*',
  '?$expand=.($levels=99)',
  '?$select=PowerState,Boot',
  '?$select=',
  '?$top=-1',
  '?$skip=abc',
  '?$top=99999999999999999999',
  '?$filter=PowerState eq On',
  '?only',
  '?%00=%ff',
  '?$expand=*($levels=1)&$select=Id&$top=1&$skip=1',
];
const BODIES = [
  '{"ResetType":"On"}',
  '{"ResetType":"ForceOff"}',
  '{"ResetType":"Nonsense"}',
  '{"ResetType":7}',
  '{"Boot":{"BootSourceOverrideTarget":"Pxe","BootSourceOverrideEnabled":"Once"}}',
  '{"Boot":{"BootSourceOverrideTarget":null}}',
  '{"Image":"http://example.com/x.iso","Inserted":true}',
  '{"Image":"ftp://[::1"}',
  '{"UserName":"admin","Password":"wrong"}',
  '{"UserName":"admin","Password":"Fuzz-pass1"}',
  '{"SecureBootEnable":"yes"}',
  '{"__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}}}',
  '{"a":1,"a":2}',
  '[]',
  'null',
  '"string"',
  '1e309',
  '{',
  '{"unterminated": "',
  '\u0000\u0001\u0002',
  '\xff\xfe{}',
  '',
];

export async function fuzzRedfish(requests: number, seed = 0xf00d): Promise<RedfishFuzzReport> {
  const t0 = Date.now();
  const { logger, errors, clientAborts } = collectingLogger();
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(a: readonly T[]): T => a[int(a.length)]!;
  const { value, escaped } = await watchProcess(async () => {
    const machine = new MemoryMachine({ power: 'On' });
    const server = new RedfishServer({
      systems: { kind: 'single', machine },
      accounts: () => [{ username: 'admin', password: 'Fuzz-pass1', role: 'Administrator' }],
      logger,
      // The fuzzer sends wrong passwords all the time from one address; with the failed-login
      // budgets on, it would be refused (503) and the authenticated code paths would go untested.
      loginLimits: { sourceBurst: 0, accountBurst: 0 },
    });
    const { port } = await server.listen(0);
    const statuses: Record<string, number> = {};
    const serverErrors: string[] = [];
    const bareErrors: string[] = [];
    const basic = `Basic ${Buffer.from('admin:Fuzz-pass1').toString('base64')}`;
    let token = '';
    {
      const c = new HttpConn('127.0.0.1', port);
      const r = await c.request(
        'POST',
        '/redfish/v1/SessionService/Sessions',
        'Content-Type: application/json\r\n',
        BODIES[9],
      );
      token = /\r\nx-auth-token:\s*(\S+)/i.exec(r.head)?.[1] ?? '';
      c.close();
    }
    const pathOf = (): string => {
      let p = pick(PATHS);
      switch (int(8)) {
        case 0:
          p += `/${['..', '%2e%2e', '%00', '', 'x'.repeat(int(3000)), '\u00e9', '%ZZ', '*', '..%2f..%2fetc%2fpasswd'][int(9)]}`;
          break;
        case 1:
          p = p.replace(/\/[^/]*$/, `/${int(2) ? '1'.repeat(200) : 'does-not-exist'}`);
          break;
        case 2:
          p = p.toLowerCase();
          break;
        case 3:
          p = `${p}//`;
          break;
        default:
          break;
      }
      return `${p}${pick(QUERIES)}`;
    };
    const bodyOf = (): Buffer => {
      switch (int(10)) {
        case 0:
          return Buffer.from(`${'['.repeat(20_000)}${']'.repeat(20_000)}`);
        case 1:
          // A huge body (several MiB): the service must refuse it, not buffer it all.
          return Buffer.alloc(2 * 1024 * 1024 + int(4 * 1024 * 1024), 0x61);
        case 2: {
          const b = Buffer.from(pick(BODIES));
          return b.subarray(0, int(b.length + 1));
        }
        case 3:
          return Buffer.from(
            JSON.stringify({ Image: 'http://x/'.padEnd(int(100_000), 'a'), Inserted: true }),
          );
        default:
          return Buffer.from(pick(BODIES), 'latin1');
      }
    };
    const authOf = (): string => {
      switch (int(8)) {
        case 0:
          return '';
        case 1:
          return `Authorization: Basic ${Buffer.from(`admin:${'x'.repeat(int(50))}`).toString('base64')}\r\n`;
        case 2:
          return `Authorization: ${pick(['Basic', 'Basic !!!', 'Bearer abc', 'Basic ' + 'A'.repeat(20_000), 'Digest x', 'Basic YWRtaW4='])}\r\n`;
        case 3:
          return `X-Auth-Token: ${pick(['', 'x', token.slice(0, -1), 'a'.repeat(5000)])}\r\n`;
        case 4:
          return `X-Auth-Token: ${token}\r\n`;
        default:
          return `Authorization: ${basic}\r\n`;
      }
    };
    const extraHeaders = (): string => {
      let h = '';
      for (let k = int(4); k > 0; k--)
        h += pick([
          'Content-Type: application/json\r\n',
          'Content-Type: text/plain\r\n',
          'Content-Type: application/json; charset=utf-16\r\n',
          'If-Match: "nope"\r\n',
          'If-Match: *\r\n',
          'If-None-Match: W/"1"\r\n',
          'OData-Version: 9.0\r\n',
          'Accept: application/xml\r\n',
          'Accept-Encoding: gzip, br\r\n',
          `X-Long: ${'x'.repeat(int(12_000))}\r\n`,
          'Transfer-Encoding: chunked\r\n',
          'Expect: 100-continue\r\n',
          'Host: \r\n',
        ]);
      return h;
    };

    /** Writes raw bytes on a fresh connection; resolves with the status line's code (0: none). */
    const raw = (bytes: Buffer): Promise<{ status: number; text: string }> =>
      new Promise((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        const chunks: Buffer[] = [];
        let size = 0;
        const done = () => {
          clearTimeout(timer);
          s.destroy();
          const text = Buffer.concat(chunks).toString('latin1');
          // Skip interim answers (100 Continue) to the final status.
          const final = [...text.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3})/g)]
            .map((m) => Number(m[1]))
            .find((c) => c >= 200);
          resolve({ status: final ?? 0, text });
        };
        const timer = setTimeout(done, 5000);
        s.on('data', (d: Buffer) => {
          if (size < 1_000_000) chunks.push(d);
          size += d.length;
        });
        s.on('end', done);
        s.on('close', done);
        s.on('error', done);
        s.write(bytes, () => s.end());
      });

    let sent = 0;
    const worker = async () => {
      while (sent < requests) {
        sent++;
        const method = pick(METHODS);
        const path = pathOf();
        const body = ['POST', 'PATCH', 'PUT'].includes(method) || int(10) === 0 ? bodyOf() : null;
        let head = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${authOf()}${extraHeaders()}`;
        if (body)
          head +=
            int(10) === 0
              ? `Content-Length: ${int(2) ? body.length + 10 : 'abc'}\r\n`
              : `Content-Length: ${body.length}\r\n`;
        let bytes = Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), body ?? Buffer.alloc(0)]);
        if (int(40) === 0)
          bytes = Buffer.from(
            `${pick(['GARBAGE', '\x00\x01', 'GET /\r\n\r\n', 'GET / HTTP/9.9'])}\r\n\r\n`,
            'latin1',
          );
        const r = await raw(bytes);
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        if (r.status >= 500) {
          if (serverErrors.length < 20)
            serverErrors.push(`${method} ${path.slice(0, 200)} → ${r.status}: ${r.text.slice(0, 300)}`);
        } else if (
          method !== 'HEAD' &&
          r.status >= 400 &&
          /content-type: application\/json/i.test(r.text) &&
          !/"error"\s*:\s*\{/.test(r.text)
        ) {
          if (bareErrors.length < 20)
            bareErrors.push(`${method} ${path.slice(0, 200)} → ${r.status}: ${r.text.slice(0, 300)}`);
        }
      }
    };
    let aliveAfter = false;
    try {
      await Promise.all(Array.from({ length: 4 }, worker));
      const c = new HttpConn('127.0.0.1', port);
      const r = await c.request('GET', '/redfish/v1/Systems/1', `Authorization: ${basic}\r\n`);
      aliveAfter = r.status === 200 && typeof JSON.parse(r.body.toString()).PowerState === 'string';
      c.close();
    } finally {
      await server.close();
      machine.dispose();
    }
    return { statuses, serverErrors, bareErrors, aliveAfter, sent };
  });
  return {
    seed,
    requests: value.sent,
    statuses: value.statuses,
    serverErrors: value.serverErrors,
    bareErrors: value.bareErrors,
    escaped,
    errorLogs: errors.slice(0, 20),
    clientAbortLogs: clientAborts.n,
    aliveAfter: value.aliveAfter,
    seconds: (Date.now() - t0) / 1000,
  };
}
