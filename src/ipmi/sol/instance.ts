import type { ConsoleEvent, ConsoleStream } from '../../machine/index.ts';
import {
  decodeSol,
  encodeSol,
  nextSolSeq,
  OP_BREAK,
  OP_CTS_PAUSE,
  OP_FLUSH_OUTBOUND,
  OP_NACK,
  ST_DEACTIVATING,
  ST_TRANSMIT_OVERRUN,
} from './codec.ts';

export interface SolTiming {
  /** Character accumulate interval (ms): how long output may wait to fill a packet. */
  readonly accumulateMs: number;
  /** Send at once when this many characters are waiting. */
  readonly sendThreshold: number;
  /** Retransmissions of an unacknowledged packet at `retryMs`, before slowing down to `slowRetryMs`. */
  readonly retries: number;
  readonly retryMs: number;
  readonly slowRetryMs: number;
}

export interface SolInstanceOptions {
  readonly console: ConsoleStream;
  /** Sends one SOL payload to the console (the server adds the session's protection). */
  readonly send: (payload: Buffer) => void;
  readonly timing: () => SolTiming;
  /** Characters per outbound packet (maximum outbound payload size minus the 4-byte header). */
  readonly maxChunk: number;
  /** Output kept while the console does not acknowledge (oldest dropped beyond it). */
  readonly bufferLimit?: number;
  /** The console stream ended for good (the machine went away). */
  readonly onConsoleClosed: (reason: string) => void;
  /**
   * The machine runs (its console is still connecting when not attached): no "the machine is off"
   * line at the start.
   */
  readonly machineRunning?: boolean;
}

interface InFlight {
  readonly seq: number;
  readonly data: Buffer;
  readonly flags: number;
  tries: number;
  timer: NodeJS.Timeout | null;
}

const encoder = new TextEncoder();

/**
 * Shown when another client (e.g. `virtctl console`) took the machine's serial console. The session
 * stays active and does not take the console back by itself; it reattaches when the machine starts
 * again, and deactivating and activating SOL takes the console back at once.
 */
export const TAKEN_OVER_NOTICE =
  'console taken over by another client (e.g. virtctl console); detached until the VM starts again, or deactivate and activate SOL to take it back';

/**
 * One active SOL payload instance: moves bytes between a machine's console stream and the remote
 * console. Output: one packet outstanding at a time, retransmitted with the same sequence number
 * until acknowledged; a partial acceptance puts the rest back in front of the queue. Input: each
 * new packet is written to the machine once and acknowledged with its character count; a
 * retransmission (same sequence number) is acknowledged again but not written twice.
 */
export class SolInstance {
  readonly #o: SolInstanceOptions;
  readonly #limit: number;
  #queue: Buffer = Buffer.alloc(0);
  #inFlight: InFlight | null = null;
  #seq = 0;
  #overrun = false;
  #paused = false;
  #accumulate: NodeJS.Timeout | null = null;
  #lastInbound: { seq: number; accepted: number } | null = null;
  #ended = false;
  readonly #unsubscribe: () => void;
  /** Counters for tests and logs. */
  readonly stats = { sent: 0, retransmitted: 0, received: 0, duplicates: 0, breaks: 0 };

  constructor(options: SolInstanceOptions) {
    this.#o = options;
    this.#limit = options.bufferLimit ?? 64 * 1024;
    this.#unsubscribe = options.console.on((e) => this.#onConsole(e));
    if (!options.console.attached && !options.machineRunning)
      this.notice('the machine is off; its console appears here when it runs');
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Adds a bracketed line for the person at the console (e.g. the machine powered off). */
  notice(text: string): void {
    this.#enqueue(encoder.encode(`\r\n[SOL: ${text}]\r\n`));
  }

  /** A SOL payload from the remote console (already authenticated and decrypted). */
  receive(payload: Buffer): void {
    if (this.#ended) return;
    const p = decodeSol(payload);
    if (!p) return;
    if (p.ackSeq !== 0) this.#onAck(p.ackSeq, p.accepted, (p.flags & OP_NACK) !== 0);
    const wasPaused = this.#paused;
    this.#paused = (p.flags & OP_CTS_PAUSE) !== 0;
    if (p.seq !== 0) {
      const last = this.#lastInbound;
      if (last && last.seq === p.seq) {
        // Our ACK was lost and the console sent the packet again: acknowledge, do not re-deliver.
        this.stats.duplicates++;
        this.#ack(p.seq, last.accepted);
      } else {
        this.stats.received++;
        if (p.flags & OP_BREAK) {
          this.stats.breaks++;
          this.#o.console.sendBreak();
        }
        if (p.flags & OP_FLUSH_OUTBOUND) this.#queue = Buffer.alloc(0);
        // Keystrokes are accepted whole: written to the machine, or dropped while it is off (as a
        // UART nobody reads would), so the console never resends them in a loop.
        if (p.data.length > 0) this.#o.console.write(p.data);
        const accepted = Math.min(p.data.length, 255);
        this.#lastInbound = { seq: p.seq, accepted };
        this.#ack(p.seq, accepted);
      }
    }
    if (wasPaused && !this.#paused) this.#pump();
  }

  /**
   * Ends the instance: stops timers, tells the console "SOL deactivating" when `notify`, and closes
   * the console stream.
   */
  async end(notify: boolean): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    this.#clearTimers();
    this.#unsubscribe();
    if (notify)
      this.#o.send(
        encodeSol({ seq: 0, ackSeq: 0, accepted: 0, flags: ST_DEACTIVATING, data: Buffer.alloc(0) }),
      );
    await this.#o.console.close().catch(() => {});
  }

  #onConsole(e: ConsoleEvent): void {
    if (this.#ended) return;
    if (e.type === 'data') this.#enqueue(e.data);
    else if (e.type === 'state') {
      if (e.takenOver) this.notice(TAKEN_OVER_NOTICE);
      else if (!e.attached) this.notice(`console detached: ${e.reason ?? 'the machine is not running'}`);
    } else if (e.type === 'closed') {
      this.#o.onConsoleClosed(e.reason ?? 'the console closed');
    }
  }

  #enqueue(data: Uint8Array): void {
    if (data.length === 0) return;
    let q = Buffer.concat([this.#queue, data]);
    if (q.length > this.#limit) {
      q = q.subarray(q.length - this.#limit);
      this.#overrun = true;
    }
    this.#queue = q;
    this.#pump();
  }

  /** Sends the next packet when none is outstanding (now, or after the accumulate interval). */
  #pump(): void {
    if (this.#ended || this.#inFlight || this.#paused || this.#queue.length === 0) return;
    const t = this.#o.timing();
    if (this.#queue.length >= Math.min(t.sendThreshold, this.#o.maxChunk) || t.accumulateMs <= 0) {
      this.#sendNext();
      return;
    }
    if (!this.#accumulate) {
      this.#accumulate = setTimeout(() => {
        this.#accumulate = null;
        this.#sendNext();
      }, t.accumulateMs);
    }
  }

  #sendNext(): void {
    if (this.#accumulate) clearTimeout(this.#accumulate);
    this.#accumulate = null;
    if (this.#ended || this.#inFlight || this.#paused || this.#queue.length === 0) return;
    const data = Buffer.from(this.#queue.subarray(0, this.#o.maxChunk));
    this.#queue = this.#queue.subarray(data.length);
    this.#seq = nextSolSeq(this.#seq);
    const flags = this.#overrun ? ST_TRANSMIT_OVERRUN : 0;
    this.#overrun = false;
    this.#inFlight = { seq: this.#seq, data, flags, tries: 0, timer: null };
    this.stats.sent++;
    this.#transmit();
  }

  #transmit(): void {
    const f = this.#inFlight;
    if (!f || this.#ended) return;
    this.#o.send(encodeSol({ seq: f.seq, ackSeq: 0, accepted: 0, flags: f.flags, data: f.data }));
    const t = this.#o.timing();
    const delay = f.tries < t.retries ? t.retryMs : t.slowRetryMs;
    f.timer = setTimeout(() => {
      f.timer = null;
      if (this.#inFlight !== f || this.#ended) return;
      f.tries++;
      this.stats.retransmitted++;
      this.#transmit();
    }, delay);
  }

  #onAck(seq: number, accepted: number, nack: boolean): void {
    const f = this.#inFlight;
    if (!f || f.seq !== seq) return; // a late ACK of a packet already settled
    if (f.timer) clearTimeout(f.timer);
    this.#inFlight = null;
    // A NACK accepts nothing: the whole packet goes back and is sent again.
    const n = nack ? 0 : Math.min(accepted, f.data.length);
    if (n < f.data.length) this.#queue = Buffer.concat([f.data.subarray(n), this.#queue]);
    if (nack) {
      // The console is busy: wait one retry interval before offering the data again.
      const t = this.#o.timing();
      this.#accumulate = setTimeout(
        () => {
          this.#accumulate = null;
          this.#sendNext();
        },
        Math.max(t.retryMs, 10),
      );
      return;
    }
    this.#pump();
  }

  #ack(seq: number, accepted: number): void {
    this.#o.send(encodeSol({ seq: 0, ackSeq: seq, accepted, flags: 0, data: Buffer.alloc(0) }));
  }

  #clearTimers(): void {
    if (this.#accumulate) clearTimeout(this.#accumulate);
    this.#accumulate = null;
    if (this.#inFlight?.timer) clearTimeout(this.#inFlight.timer);
  }
}
