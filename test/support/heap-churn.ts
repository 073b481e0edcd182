/**
 * Child process for test/unit/agent/heap.test.ts: holds about 45 MiB of live objects, then
 * allocates short-lived batches that outlive a young-generation collection (as a busy agent's
 * in-flight requests do), and prints the peak heap against the live heap left after a full
 * collection. `bound` applies the agent's heap growth bound first; `default` leaves V8's.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { boundHeapGrowth } from '../../src/agent/heap.ts';

const applied = process.argv[2] === 'bound' ? boundHeapGrowth() : null;
const live: object[] = [];
for (let i = 0; i < 300_000; i++) live.push({ i, s: `x${i}`, a: [i, i + 1] });
const ring: object[][] = new Array(50);
let peak = 0;
for (let k = 0; k < 3000; k++) {
  ring[k % 50] = Array.from({ length: 500 }, (_, j) => ({ k, j, t: `y${j}` }));
  if (k % 50 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed);
}
setFlagsFromString('--expose-gc');
(runInNewContext('gc') as () => void)();
ring.fill([]);
(runInNewContext('gc') as () => void)();
const liveAfter = process.memoryUsage().heapUsed;
process.stdout.write(JSON.stringify({ applied, peak, live: liveAfter, kept: live.length }));
