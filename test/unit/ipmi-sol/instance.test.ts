import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { decodeSol, encodeSol, type SolPacket } from '../../../src/ipmi/sol/codec.ts';
import { SolInstance } from '../../../src/ipmi/sol/instance.ts';
import type { ConsoleEvent, ConsoleStream } from '../../../src/machine/index.ts';
import { waitFor } from '../../support/wait.ts';

/** A console stream double for the instance's own seam: records writes and breaks, emits events. */
class FakeConsole implements ConsoleStream {
  attached = true;
  writes: string[] = [];
  breaks = 0;
  closed = false;
  readonly listeners = new Set<(e: ConsoleEvent) => void>();
  write(data: Uint8Array): void {
    this.writes.push(Buffer.from(data).toString('latin1'));
  }
  sendBreak(): void {
    this.breaks++;
  }
  on(l: (e: ConsoleEvent) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  emit(e: ConsoleEvent): void {
    for (const l of [...this.listeners]) l(e);
  }
  print(text: string): void {
    this.emit({ type: 'data', data: Buffer.from(text, 'latin1') });
  }
}

const pkt = (p: Partial<Omit<SolPacket, 'data'>> & { data?: Buffer | string }): Buffer =>
  encodeSol({
    seq: p.seq ?? 0,
    ackSeq: p.ackSeq ?? 0,
    accepted: p.accepted ?? 0,
    flags: p.flags ?? 0,
    data: typeof p.data === 'string' ? Buffer.from(p.data, 'latin1') : (p.data ?? Buffer.alloc(0)),
  });

let instance: SolInstance | null = null;
afterEach(async () => {
  await instance?.end(false);
  instance = null;
});

function make(
  opts: {
    retries?: number;
    retryMs?: number;
    maxChunk?: number;
    attached?: boolean;
    bufferLimit?: number;
    machineRunning?: boolean;
  } = {},
) {
  const console = new FakeConsole();
  console.attached = opts.attached ?? true;
  const sent: SolPacket[] = [];
  const closed: string[] = [];
  instance = new SolInstance({
    console,
    send: (p) => sent.push(decodeSol(p)!),
    timing: () => ({
      accumulateMs: 0,
      sendThreshold: 1,
      retries: opts.retries ?? 7,
      retryMs: opts.retryMs ?? 10_000,
      slowRetryMs: 10_000,
    }),
    maxChunk: opts.maxChunk ?? 8,
    ...(opts.bufferLimit ? { bufferLimit: opts.bufferLimit } : {}),
    onConsoleClosed: (r) => closed.push(r),
    ...(opts.machineRunning ? { machineRunning: true } : {}),
  });
  return { console, sent, closed, sol: instance };
}

const text = (p: SolPacket) => p.data.toString('latin1');

test('output: one packet outstanding; the next goes after the ACK, with the next sequence number', () => {
  const { console, sent, sol } = make({ maxChunk: 4 });
  console.print('abcdefghij');
  assert.deepEqual(
    sent.map((p) => [p.seq, text(p)]),
    [[1, 'abcd']],
    'only one packet in flight',
  );
  sol.receive(pkt({ ackSeq: 1, accepted: 4 }));
  sol.receive(pkt({ ackSeq: 2, accepted: 4 }));
  sol.receive(pkt({ ackSeq: 3, accepted: 2 }));
  assert.deepEqual(
    sent.map((p) => [p.seq, text(p)]),
    [
      [1, 'abcd'],
      [2, 'efgh'],
      [3, 'ij'],
    ],
  );
});

test('output: a partial acceptance sends the rest again; a stale or foreign ACK changes nothing', () => {
  const { console, sent, sol } = make({ maxChunk: 8 });
  console.print('12345678');
  sol.receive(pkt({ ackSeq: 9, accepted: 8 })); // not the packet in flight
  assert.equal(sent.length, 1);
  sol.receive(pkt({ ackSeq: 1, accepted: 3 }));
  assert.deepEqual(
    sent.map((p) => [p.seq, text(p)]),
    [
      [1, '12345678'],
      [2, '45678'],
    ],
  );
  sol.receive(pkt({ ackSeq: 1, accepted: 8 })); // late duplicate ACK of packet 1
  assert.equal(sent.length, 2);
});

test('output: an unacknowledged packet is retransmitted with the same sequence number and data', async () => {
  const { console, sent, sol } = make({ retryMs: 5 });
  console.print('boot');
  await waitFor(() => sent.length >= 3, { what: 'retransmissions' });
  assert.ok(sent.every((p) => p.seq === 1 && text(p) === 'boot'));
  assert.ok(sol.stats.retransmitted >= 2);
  sol.receive(pkt({ ackSeq: 1, accepted: 4 }));
  const n = sent.length;
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(sent.length, n, 'no more retransmissions once acknowledged');
});

test('output: a NACK keeps the data and offers it again', async () => {
  const { console, sent, sol } = make({ retryMs: 5 });
  console.print('xy');
  sol.receive(pkt({ ackSeq: 1, accepted: 0, flags: 0x40 }));
  await waitFor(() => sent.length >= 2);
  assert.deepEqual([sent[1]!.seq, text(sent[1]!)], [2, 'xy']);
});

test('output: CTS pause holds output until the console resumes; flush outbound drops what waits', () => {
  const { console, sent, sol } = make({ maxChunk: 4 });
  sol.receive(pkt({ flags: 0x08 })); // pause
  console.print('held');
  assert.equal(sent.length, 0);
  sol.receive(pkt({ flags: 0x00 })); // resume
  assert.deepEqual(sent.map(text), ['held']);
  console.print('more-data');
  sol.receive(pkt({ seq: 1, flags: 0x01 })); // flush outbound, with an ACK for the console's packet
  sol.receive(pkt({ ackSeq: 1, accepted: 4 }));
  assert.deepEqual(sent.filter((p) => p.seq !== 0).map(text), ['held'], 'queued output dropped');
});

test('input: written once and acknowledged with its count; a retransmission is re-acknowledged only', () => {
  const { console, sent, sol } = make();
  sol.receive(pkt({ seq: 1, data: 'root\r' }));
  sol.receive(pkt({ seq: 1, data: 'root\r' })); // our ACK was lost
  sol.receive(pkt({ seq: 2, data: 'x' }));
  assert.deepEqual(console.writes, ['root\r', 'x']);
  assert.deepEqual(
    sent.map((p) => [p.seq, p.ackSeq, p.accepted]),
    [
      [0, 1, 5],
      [0, 1, 5],
      [0, 2, 1],
    ],
  );
  assert.equal(sol.stats.duplicates, 1);
});

test('input: break reaches the console; ACK-only packets are not acknowledged', () => {
  const { console, sent, sol } = make();
  sol.receive(pkt({ seq: 4, flags: 0x10 }));
  assert.equal(console.breaks, 1);
  assert.deepEqual(
    sent.map((p) => [p.seq, p.ackSeq, p.accepted]),
    [[0, 4, 0]],
  );
  sol.receive(pkt({ ackSeq: 7, accepted: 1 }));
  assert.equal(sent.length, 1);
  sol.receive(Buffer.from([1, 2])); // malformed: ignored
  assert.equal(sent.length, 1);
});

test('machine off / detached / closed: the console says so, and a closed stream ends SOL', () => {
  const { console, sent, closed, sol } = make({ attached: false, maxChunk: 200 });
  assert.match(text(sent[0]!), /\[SOL: the machine is off/);
  sol.receive(pkt({ ackSeq: 1, accepted: sent[0]!.data.length }));
  console.emit({ type: 'state', attached: false, reason: 'the VM restarted' });
  assert.match(text(sent[1]!), /\[SOL: console detached: the VM restarted\]/);
  console.emit({ type: 'closed', reason: 'the VM was deleted' });
  assert.deepEqual(closed, ['the VM was deleted']);
});

test('taken over by another console client: says so once, keeps the session; no "off" line while connecting', () => {
  const { console, sent, closed } = make({ attached: false, machineRunning: true, maxChunk: 250 });
  assert.equal(sent.length, 0, 'a running machine whose console is still connecting is not "off"');
  console.emit({
    type: 'state',
    attached: false,
    reason: 'another client (e.g. virtctl console) connected to the serial console',
    takenOver: true,
  });
  assert.equal(
    text(sent[0]!),
    '\r\n[SOL: console taken over by another client (e.g. virtctl console); detached until the VM starts again, or deactivate and activate SOL to take it back]\r\n',
  );
  assert.deepEqual(closed, [], 'the SOL session stays active');
});

test('end: sends "SOL deactivating", closes the stream, and ignores later packets', async () => {
  const { console, sent, sol } = make();
  await sol.end(true);
  assert.deepEqual(
    sent.map((p) => [p.seq, p.flags]),
    [[0, 0x10]],
  );
  assert.equal(console.closed, true);
  sol.receive(pkt({ seq: 1, data: 'late' }));
  console.print('late output');
  assert.equal(sent.length, 1);
  assert.deepEqual(console.writes, []);
});

test('output beyond the buffer limit drops the oldest and flags a transmit overrun', () => {
  const { console, sent, sol } = make({ maxChunk: 4, bufferLimit: 8 });
  console.print('a');
  console.print('0123456789XYZ'); // 13 more while packet 1 is outstanding
  sol.receive(pkt({ ackSeq: 1, accepted: 1 }));
  assert.deepEqual([text(sent[1]!), sent[1]!.flags & 0x08], ['5678', 0x08]);
});
