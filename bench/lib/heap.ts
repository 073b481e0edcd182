/**
 * Live JavaScript heap of another Node process, from a V8 heap snapshot (which runs a full garbage
 * collection first, so the figure is what is really retained). The process must have been started
 * with `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=DIR`. The snapshot is streamed, not parsed
 * whole, so even a large one costs little memory here.
 */
import { createReadStream, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

async function sumSelfSizes(file: string): Promise<number> {
  let fields = 0;
  let sizeIndex = -1;
  let header = '';
  let inNodes = false;
  let done = false;
  let num = '';
  let k = 0;
  let total = 0;
  for await (const chunk of createReadStream(file, { encoding: 'latin1', highWaterMark: 1 << 20 })) {
    let s = chunk as string;
    if (done) break;
    if (!inNodes) {
      header += s;
      const at = header.indexOf('"nodes":[');
      if (at < 0) continue;
      const meta = /"node_fields":\[([^\]]*)\]/.exec(header);
      if (!meta) throw new Error('heap snapshot without node_fields');
      const names = meta[1]!.split(',').map((x) => x.trim().replace(/"/g, ''));
      fields = names.length;
      sizeIndex = names.indexOf('self_size');
      inNodes = true;
      s = header.slice(at + 9);
      header = '';
    }
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 48 && c <= 57) num += s[i];
      else if (c === 44 || c === 93) {
        if (num) {
          if (k % fields === sizeIndex) total += Number(num);
          k++;
          num = '';
        }
        if (c === 93) {
          done = true;
          break;
        }
      }
    }
  }
  return total;
}

/** Signals `pid`, waits for the snapshot in `dir` to be complete, returns the live heap in bytes. */
export async function liveHeap(pid: number, dir: string, timeoutMs = 120_000): Promise<number> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    const f = readdirSync(dir).find((x) => x.endsWith('.heapsnapshot') && !before.has(x));
    if (!f) continue;
    const path = join(dir, f);
    const size = statSync(path).size;
    if (size > 0 && size === last) {
      try {
        return await sumSelfSizes(path);
      } finally {
        rmSync(path, { force: true });
      }
    }
    last = size;
  }
  throw new Error('no heap snapshot written in time');
}
