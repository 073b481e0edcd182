/**
 * Where the agent's memory goes: runs one agent serving N BMCs (default 100) from the embedded
 * cluster, takes a V8 heap snapshot of it (SIGUSR2 with --heapsnapshot-signal) once every BMC's
 * watches are open, and prints RSS, the JavaScript heap's share, and the heap's largest kinds of
 * objects by retained-by-self size. A diagnostic, not part of `npm run bench`.
 *
 *   node --import tsx bench/memory-breakdown.ts [--bmcs 100] [--top 25]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { populate, startAgent, startBench } from './lib/cluster.ts';
import { boolFlag, MiB, numFlag, rssOf, sleep } from './lib/common.ts';

const n = numFlag('bmcs', 100);
const top = numFlag('top', 25);
const dir = mkdtempSync(join(tmpdir(), 'kubevirtbmc-heap-'));
const b = await startBench();
try {
  await populate(b, 0, n);
  b.sim.stats.reset();
  const agent = await startAgent(
    b,
    n,
    {
      NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}`,
    },
    { plainApi: boolFlag('plain-api') },
  );
  try {
    const deadline = Date.now() + 300_000;
    // One watch per Secret (each BMC has its own here), the namespace's BMC list, and one each for
    // the namespace's VMs, VMIs and media DataVolumes.
    while (b.sim.stats.requests().filter((r) => r.verb === 'watch').length < n + 4) {
      if (Date.now() > deadline || agent.child.exitCode !== null)
        throw new Error(`agent not up: ${agent.stderr()}`);
      await sleep(500);
    }
    await sleep(3000);
    const smaps = readFileSync(`/proc/${agent.child.pid}/smaps_rollup`, 'utf8');
    const field = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(smaps)?.[1] ?? 0) / 1024;
    const rss = (rssOf(agent.child.pid!) ?? 0) / MiB;
    agent.child.kill('SIGUSR2');
    // The snapshot is complete once it parses.
    let snap: {
      snapshot: {
        meta: {
          node_fields: string[];
          node_types: [string[]];
          edge_fields: string[];
          edge_types: [string[]];
        };
      };
      nodes: number[];
      edges: number[];
      strings: string[];
    } | null = null;
    for (let i = 0; i < 240 && !snap; i++) {
      await sleep(500);
      const f = readdirSync(dir).find((x) => x.endsWith('.heapsnapshot'));
      if (!f) continue;
      try {
        snap = JSON.parse(readFileSync(join(dir, f), 'utf8'));
      } catch {
        // still being written
      }
    }
    if (!snap) throw new Error('no heap snapshot written');
    const f = snap.snapshot.meta.node_fields;
    const types = snap.snapshot.meta.node_types[0];
    const [iType, iName, iSize] = [f.indexOf('type'), f.indexOf('name'), f.indexOf('self_size')];
    const by = new Map<string, { size: number; count: number }>();
    let heap = 0;
    for (let i = 0; i < snap.nodes.length; i += f.length) {
      const type = types[snap.nodes[i + iType]!]!;
      const name =
        type === 'object' || type === 'closure' ? snap.strings[snap.nodes[i + iName]!]! : `(${type})`;
      const size = snap.nodes[i + iSize]!;
      heap += size;
      const e = by.get(name) ?? { size: 0, count: 0 };
      e.size += size;
      e.count++;
      by.set(name, e);
    }
    console.log(
      `agent serving ${n} BMCs${boolFlag('plain-api') ? ' (API over plain HTTP)' : ''}: RSS ${rss.toFixed(1)} MiB (anonymous ${field('Anonymous').toFixed(1)} MiB, file-backed ${(field('Rss') - field('Anonymous')).toFixed(1)} MiB); live JS heap ${(heap / MiB).toFixed(1)} MiB`,
    );
    console.log(`largest kinds of heap objects (self size):`);
    for (const [name, e] of [...by].sort((a, b) => b[1].size - a[1].size).slice(0, top))
      console.log(
        `  ${(e.size / MiB).toFixed(2).padStart(8)} MiB  ${String(e.count).padStart(8)} × ${name.slice(0, 70)}  (${(e.size / 1024 / n).toFixed(1)} KiB per BMC)`,
      );
    // Who holds it: every object is charged to the nearest instance of a named class on its
    // shortest path from the GC roots (a rough attribution, but it names the owners).
    const ef = snap.snapshot.meta.edge_fields;
    const etypes = snap.snapshot.meta.edge_types[0];
    const [eType, eTo] = [ef.indexOf('type'), ef.indexOf('to_node')];
    const iEdges = f.indexOf('edge_count');
    const count = snap.nodes.length / f.length;
    const firstEdge = new Uint32Array(count + 1);
    for (let n2 = 0; n2 < count; n2++)
      firstEdge[n2 + 1] = firstEdge[n2]! + snap.nodes[n2 * f.length + iEdges]!;
    const owner = new Int32Array(count).fill(-2);
    const generic = new Set(['Object', 'Array', 'Map', 'Set', 'Promise', 'Function', 'system / Context', '']);
    const isOwner = (n2: number) => {
      const t = types[snap!.nodes[n2 * f.length + iType]!]!;
      if (t !== 'object') return false;
      const nm = snap!.strings[snap!.nodes[n2 * f.length + iName]!]!;
      return !generic.has(nm) && !nm.startsWith('(') && !nm.startsWith('system') && !nm.includes('/');
    };
    const nameOf = (n2: number) => snap!.strings[snap!.nodes[n2 * f.length + iName]!]!;
    owner[0] = -1;
    const queue = [0];
    for (let qi = 0; qi < queue.length; qi++) {
      const from = queue[qi]!;
      const inherited = isOwner(from) ? from : owner[from]!;
      for (let e = firstEdge[from]!; e < firstEdge[from + 1]!; e++) {
        const et = etypes[snap.edges[e * ef.length + eType]!];
        if (et === 'weak' || et === 'shortcut') continue;
        const to = snap.edges[e * ef.length + eTo]! / f.length;
        if (owner[to] !== -2) continue;
        owner[to] = inherited;
        queue.push(to);
      }
    }
    const byOwner = new Map<string, number>();
    for (let n2 = 0; n2 < count; n2++) {
      const o = owner[n2]!;
      const key = o < 0 ? '(roots)' : nameOf(o);
      byOwner.set(key, (byOwner.get(key) ?? 0) + snap.nodes[n2 * f.length + iSize]!);
    }
    console.log('largest owners (objects charged to the nearest named class holding them):');
    for (const [name, size] of [...byOwner].sort((a, b) => b[1] - a[1]).slice(0, top))
      console.log(
        `  ${(size / MiB).toFixed(2).padStart(8)} MiB  ${name.slice(0, 70)}  (${(size / 1024 / n).toFixed(1)} KiB per BMC)`,
      );
  } finally {
    await agent.stop();
  }
} finally {
  await b.sim.stop();
  rmSync(dir, { recursive: true, force: true });
}
