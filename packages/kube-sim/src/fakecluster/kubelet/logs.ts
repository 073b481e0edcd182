/**
 * What a container printed (stdout and stderr, by line, with the time each line came), bounded in
 * bytes, readable as `kubectl logs` reads it: tailLines, limitBytes, sinceSeconds/sinceTime,
 * timestamps, and follow (new lines until the container exits).
 */

export const LOG_LIMIT = 256 * 1024;

export interface LogQuery {
  tailLines?: number;
  limitBytes?: number;
  timestamps?: boolean;
  /** Only lines from this time on (ms since the epoch). */
  sinceMs?: number;
}

interface Line {
  at: number;
  /** RFC 3339 with nanoseconds, as the kubelet prints with `timestamps=true`. */
  stamp: string;
  text: string;
}

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000000Z');
}

export class LogBuffer {
  #lines: Line[] = [];
  #bytes = 0;
  #partial: Record<string, string> = {};
  #followers = new Set<(line: string | null) => void>();
  #closed = false;

  get closed(): boolean {
    return this.#closed;
  }

  /** A chunk of one stream's output; a line is kept once its newline came (or the stream closed). */
  append(stream: 'stdout' | 'stderr', chunk: string): void {
    if (this.#closed) return;
    const text = (this.#partial[stream] ?? '') + chunk;
    const parts = text.split('\n');
    this.#partial[stream] = parts.pop() ?? '';
    for (const p of parts) this.#push(p);
    // a line longer than the whole buffer is cut, not kept forever
    if ((this.#partial[stream]?.length ?? 0) > LOG_LIMIT) {
      this.#push(this.#partial[stream]!);
      this.#partial[stream] = '';
    }
  }

  /** The process ended: keep what is left of its lines, end followers. */
  close(): void {
    if (this.#closed) return;
    for (const s of Object.keys(this.#partial)) if (this.#partial[s]) this.#push(this.#partial[s]!);
    this.#partial = {};
    this.#closed = true;
    for (const f of this.#followers) f(null);
    this.#followers.clear();
  }

  #push(text: string): void {
    const at = Date.now();
    const line = { at, stamp: stamp(at), text };
    this.#lines.push(line);
    this.#bytes += text.length + 1;
    while (this.#bytes > LOG_LIMIT && this.#lines.length > 1) {
      const old = this.#lines.shift()!;
      this.#bytes -= old.text.length + 1;
    }
    for (const f of this.#followers) f(this.#format(line, false));
  }

  #format(l: Line, timestamps: boolean | undefined): string {
    return `${timestamps ? `${l.stamp} ` : ''}${l.text}\n`;
  }

  text(q: LogQuery = {}): string {
    let lines = this.#lines;
    if (q.sinceMs !== undefined) lines = lines.filter((l) => l.at >= q.sinceMs!);
    if (q.tailLines !== undefined && q.tailLines >= 0)
      lines = lines.slice(Math.max(0, lines.length - q.tailLines));
    let out = lines.map((l) => this.#format(l, q.timestamps)).join('');
    if (q.limitBytes !== undefined && q.limitBytes > 0 && Buffer.byteLength(out) > q.limitBytes)
      out = Buffer.from(out).subarray(0, q.limitBytes).toString('utf8');
    return out;
  }

  /**
   * Calls `onLine` with each new line (formatted), then with null when the container exits;
   * returns the unsubscribe function.
   */
  follow(timestamps: boolean | undefined, onLine: (line: string | null) => void): () => void {
    if (this.#closed) {
      onLine(null);
      return () => {};
    }
    const f = (line: string | null) => {
      if (line === null || !timestamps) onLine(line);
      else onLine(`${this.#lines[this.#lines.length - 1]!.stamp} ${line}`);
    };
    this.#followers.add(f);
    return () => this.#followers.delete(f);
  }
}
