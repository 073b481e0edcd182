/**
 * IPMI load: many RMCP+ sessions, each keeping `window` Get Chassis Status requests in flight and
 * sending the next as soon as a verified reply comes; RMCP+ handshakes per second; and the same
 * traffic pattern against a bare dgram echo (the runtime's ceiling on this machine).
 */
import { createSocket } from 'node:dgram';
import { type LoadResult, Recorder } from './common.ts';
import { GET_CHASSIS_STATUS, RmcpConsole, type Target } from './rmcp.ts';

interface Channel {
  /** Routes incoming datagrams to `cb` (null: stop). */
  listen(cb: ((m: Buffer) => void) | null): void;
  /** Sends the next request; returns its key. */
  send(): number;
  /** The key of the request a datagram answers, or null when it is not a good reply. */
  keyOf(m: Buffer): number | null;
}

/** Keeps `window` requests in flight on every channel for `seconds`. */
function drive(
  name: string,
  channels: readonly Channel[],
  seconds: number,
  window: number,
): Promise<LoadResult> {
  return new Promise((resolve) => {
    const rec = new Recorder();
    const end = Recorder.now() + BigInt(Math.round(seconds * 1e9));
    let open = 0;
    let finished = false;
    const inflights: Array<Map<number, bigint>> = [];
    const finish = () => {
      if (finished) return;
      finished = true;
      clearInterval(watchdog);
      for (const c of channels) c.listen(null);
      resolve(rec.result(name));
    };
    channels.forEach((c) => {
      const inflight = new Map<number, bigint>();
      inflights.push(inflight);
      open++;
      const send = () => inflight.set(c.send(), Recorder.now());
      c.listen((m) => {
        const key = c.keyOf(m);
        if (key === null) return;
        const t0 = inflight.get(key);
        if (t0 === undefined) return;
        inflight.delete(key);
        rec.add(t0);
        if (Recorder.now() < end) send();
        else if (inflight.size === 0 && --open === 0) finish();
      });
      for (let k = 0; k < window; k++) send();
    });
    // A lost datagram must not stall a channel: anything older than 500 ms counts as an error
    // and is replaced by a new request.
    const watchdog = setInterval(() => {
      const now = Recorder.now();
      if (now >= end + 1_000_000_000n) return finish();
      channels.forEach((c, i) => {
        const inflight = inflights[i]!;
        for (const [k, t] of inflight) {
          if (now - t > 500_000_000n) {
            inflight.delete(k);
            rec.errors++;
            if (now < end) inflight.set(c.send(), Recorder.now());
          }
        }
      });
      if (now >= end && inflights.every((m) => m.size === 0)) finish();
    }, 50);
  });
}

/** Opens `sessions` RMCP+ sessions to the target (in parallel, bounded). */
export async function openSessions(target: Target, sessions: number): Promise<RmcpConsole[]> {
  const out: RmcpConsole[] = [];
  for (let i = 0; i < sessions; i += 8) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(8, sessions - i) }, () => RmcpConsole.open(target)),
    );
    out.push(...batch);
  }
  return out;
}

/** Get Chassis Status as fast as replies come, over already open sessions. */
export function chassisStatusLoad(
  name: string,
  consoles: readonly RmcpConsole[],
  seconds: number,
  window: number,
): Promise<LoadResult> {
  return drive(
    name,
    consoles.map((c) => ({
      listen: (cb) => {
        c.onMessage = cb;
      },
      send: () => {
        c.send(c.request(GET_CHASSIS_STATUS.netFn, GET_CHASSIS_STATUS.cmd));
        return c.rqSeq;
      },
      keyOf: (m) => {
        const r = c.parse(m);
        return r && r.completionCode === 0 && r.data.length >= 3 ? r.rqSeq : null;
      },
    })),
    seconds,
    Math.min(window, 16),
  );
}

/** The same pattern (sockets × window, same datagram size) against a bare dgram echo. */
export async function echoLoad(
  name: string,
  host: string,
  port: number,
  sockets: number,
  seconds: number,
  window: number,
  size = 64,
): Promise<LoadResult> {
  const socks = await Promise.all(
    Array.from({ length: sockets }, async () => {
      const s = createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, () => r()));
      return s;
    }),
  );
  let n = 0;
  const result = await drive(
    name,
    socks.map((s) => ({
      listen: (cb) => {
        s.removeAllListeners('message');
        if (cb) s.on('message', cb);
      },
      send: () => {
        const key = n++ & 0xffff;
        const pkt = Buffer.alloc(size);
        pkt.writeUInt16LE(key, 0);
        s.send(pkt, port, host);
        return key;
      },
      keyOf: (m) => (m.length === size ? m.readUInt16LE(0) : null),
    })),
    seconds,
    Math.min(window, 16),
  );
  for (const s of socks) s.close();
  return result;
}

/**
 * RMCP+ handshakes (Open Session, RAKP 1-4) followed by Close Session, `concurrency` at a time,
 * for `seconds`; latency is the handshake alone.
 */
export async function handshakeLoad(
  name: string,
  target: Target,
  concurrency: number,
  seconds: number,
): Promise<LoadResult> {
  const rec = new Recorder();
  const end = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        const t0 = Recorder.now();
        try {
          const c = await RmcpConsole.open(target);
          rec.add(t0);
          await c.close();
        } catch {
          rec.errors++;
        }
      }
    }),
  );
  return rec.result(name);
}
