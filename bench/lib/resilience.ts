/**
 * A resilience run, bounded in time and stopping by itself: one agent process serving N BMCs from
 * the embedded cluster, under sustained IPMI and Redfish load, while the cluster drops watches,
 * answers 500s and 410s, compacts its history, stalls and restarts its API server, and VMs are
 * power-cycled underneath through the API. Afterwards, with the cluster healthy again: the agent
 * still runs, every BMC reports the power state the cluster has (IPMI and Redfish), and the
 * agent's resident memory is sampled across the run to show whether it grows.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  basicFor,
  connectAll,
  NS,
  owned,
  passwordOf,
  populate,
  startAgent,
  startBench,
  USER,
  vmName,
} from './cluster.ts';
import { MiB, rssOf, sleep } from './common.ts';
import { liveHeap } from './heap.ts';
import { HttpConn as Conn, type HttpConn } from './http-conn.ts';
import { GET_CHASSIS_STATUS, RmcpConsole } from './rmcp.ts';

export interface ResilienceOptions {
  bmcs: number;
  seconds: number;
  /** Pause between two faults (ms). */
  faultEveryMs: number;
  /** Measure the agent's live heap (after a full GC) before and after the run. */
  heapSnapshots?: boolean;
  /** Diagnostics, to tell a leak's cause: run without the faults, or without the client load. */
  faults?: boolean;
  load?: boolean;
  log?: (line: string) => void;
}

export interface ResilienceReport {
  bmcs: number;
  seconds: number;
  faults: Record<string, number>;
  powerChanges: number;
  ipmi: { ok: number; failed: number };
  redfish: { ok: number; failed: number; reconnects: number };
  agentAlive: boolean;
  agentExitCode: number | null;
  /** BMCs that, once the cluster was back, did not report the cluster's power state within 30 s. */
  wrongPower: string[];
  rssMiB: number[];
  /** Mean RSS of the last third of the run minus that of the first third (after warm-up). */
  rssGrowthMiB: number;
  /** Live JS heap after a full GC, before the load and after it (with heapSnapshots). */
  liveHeapMiB: { before: number; after: number } | null;
  crashLines: string[];
}

export async function runResilience(o: ResilienceOptions): Promise<ResilienceReport> {
  const log = o.log ?? (() => {});
  const n = o.bmcs;
  const b = await startBench();
  try {
    await populate(b, 0, n);
    const dir = mkdtempSync(join(tmpdir(), 'kubevirtbmc-heap-'));
    const agent = await startAgent(
      b,
      n,
      o.heapSnapshots ? { NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}` } : {},
    );
    let heapBefore = 0;
    const consoles: RmcpConsole[] = new Array(n);
    const conns: HttpConn[] = new Array(n);
    try {
      await connectAll(agent, n, 8, consoles, conns, 120_000);
      if (o.heapSnapshots) {
        heapBefore = await liveHeap(agent.child.pid!, dir);
        log(`live heap before: ${(heapBefore / MiB).toFixed(1)} MiB`);
      }
      log(`${n} BMCs answering; load and faults for ${o.seconds} s`);
      const end = Date.now() + o.seconds * 1000;
      const ipmi = { ok: 0, failed: 0 };
      const redfish = { ok: 0, failed: 0, reconnects: 0 };
      const rss: number[] = [];
      const faults: Record<string, number> = {};
      let powerChanges = 0;

      const ipmiLoad = async (w: number, workers: number) => {
        const mine = owned(w, workers, n);
        for (let k = 0; Date.now() < end; k++) {
          const i = mine[k % mine.length]!;
          try {
            const r = await consoles[i]!.call(GET_CHASSIS_STATUS.netFn, GET_CHASSIS_STATUS.cmd, [], 1000);
            if (r.completionCode === 0) ipmi.ok++;
            else ipmi.failed++;
          } catch {
            ipmi.failed++;
          }
        }
      };
      const redfishLoad = async (w: number, workers: number) => {
        const mine = owned(w, workers, n);
        for (let k = 0; Date.now() < end; k++) {
          const i = mine[k % mine.length]!;
          try {
            const r = await conns[i]!.request('GET', '/redfish/v1/Systems/1', basicFor(i));
            if (r.status === 200) redfish.ok++;
            else redfish.failed++;
          } catch (err) {
            redfish.reconnects++;
            if (redfish.reconnects < 20) log(`redfish ${i}: ${String(err)}`);
            conns[i]!.close();
            conns[i] = new Conn('127.0.0.1', agent.redfishBase + i, false, 3000);
          }
        }
      };
      const sampler = async () => {
        while (Date.now() < end) {
          const r = rssOf(agent.child.pid!);
          if (r) rss.push(r / MiB);
          await sleep(500);
        }
      };
      const sub = (i: number, action: 'start' | 'stop' | 'restart') =>
        b.http.req(
          'PUT',
          `/apis/subresources.kubevirt.io/v1/namespaces/${NS}/virtualmachines/${vmName(i)}/${action}`,
          {},
        );
      const faultLoop = async () => {
        const kinds = [
          'dropWatches',
          'fail500',
          'fail410',
          'compact',
          'restart',
          'latency',
          'powerCycle',
          'fail429',
        ];
        let f = 0;
        while (Date.now() < end - 1000) {
          const kind = kinds[f++ % kinds.length]!;
          faults[kind] = (faults[kind] ?? 0) + 1;
          switch (kind) {
            case 'dropWatches':
              b.sim.faults.dropWatches();
              break;
            case 'fail500':
              b.sim.faults.failNext(20, 500);
              break;
            case 'fail410':
              b.sim.faults.failNext(20, 410, { path: /watch=|\/virtualmachine|\/secrets/ });
              b.sim.faults.dropWatches();
              break;
            case 'fail429':
              b.sim.faults.failNext(20, 429);
              break;
            case 'compact':
              b.sim.faults.compact();
              b.sim.faults.dropWatches();
              break;
            case 'restart':
              await b.sim.faults.restart();
              break;
            case 'latency':
              b.sim.faults.setLatency(300);
              await sleep(Math.min(1500, o.faultEveryMs));
              b.sim.faults.setLatency(0);
              break;
            case 'powerCycle': {
              // A few VMs change state underneath the BMCs, through the API as a user would.
              for (let k = 0; k < Math.min(3, n); k++) {
                const i = Math.floor(Math.random() * n);
                const r = await sub(
                  i,
                  ['start', 'stop', 'restart'][Math.floor(Math.random() * 3)] as 'start',
                );
                if (r.status < 300) powerChanges++;
              }
              break;
            }
          }
          await sleep(o.faultEveryMs);
        }
      };
      const workers = Math.min(8, n);
      const loadOn = o.load !== false;
      await Promise.all([
        o.faults !== false ? faultLoop() : sleep(o.seconds * 1000),
        sampler(),
        ...Array.from({ length: loadOn ? workers : 0 }, (_, w) => ipmiLoad(w, workers)),
        ...Array.from({ length: loadOn ? workers : 0 }, (_, w) => redfishLoad(w, workers)),
      ]);
      b.sim.faults.setLatency(0);
      log(`faults done ${JSON.stringify(faults)}; checking power states against the cluster`);

      // The cluster is back: every BMC must converge on the power state the cluster has.
      const truth = async (i: number): Promise<boolean | null> => {
        const r = await b.http.req(
          'GET',
          `/apis/kubevirt.io/v1/namespaces/${NS}/virtualmachineinstances/${vmName(i)}`,
        );
        if (r.status === 404) return false;
        if (r.status !== 200) return null;
        return r.json.status?.phase === 'Running' ? true : r.json.status?.phase ? false : null;
      };
      const wrongPower: string[] = [];
      await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const deadline = Date.now() + 30_000;
          let last = '';
          for (;;) {
            try {
              const want = await truth(i);
              let ip: Awaited<ReturnType<RmcpConsole['call']>>;
              try {
                ip = await consoles[i]!.call(GET_CHASSIS_STATUS.netFn, GET_CHASSIS_STATUS.cmd, [], 1000);
              } catch {
                // An idle session expires (60 s): log in again, as a console would.
                await consoles[i]!.close();
                consoles[i] = await RmcpConsole.open({
                  host: '127.0.0.1',
                  port: agent.ipmiBase + i,
                  username: USER,
                  password: passwordOf(i),
                  suite: 17,
                });
                ip = await consoles[i]!.call(GET_CHASSIS_STATUS.netFn, GET_CHASSIS_STATUS.cmd, [], 1000);
              }
              let rf: { status: number; body: Buffer };
              try {
                rf = await conns[i]!.request('GET', '/redfish/v1/Systems/1', basicFor(i));
              } catch {
                conns[i]!.close();
                conns[i] = new Conn('127.0.0.1', agent.redfishBase + i);
                rf = await conns[i]!.request('GET', '/redfish/v1/Systems/1', basicFor(i));
              }
              const ipOn = (ip.data[0]! & 1) === 1;
              const rfOn = JSON.parse(rf.body.toString()).PowerState === 'On';
              last = `cluster ${want}, IPMI ${ipOn}, Redfish ${rfOn}`;
              // Transitional states (Starting, Stopping) settle; compare once the cluster is settled.
              if (want !== null && ipOn === want && rfOn === want) return;
            } catch (err) {
              last = String(err);
            }
            if (Date.now() > deadline) {
              wrongPower.push(`${vmName(i)}: ${last}`);
              return;
            }
            await sleep(250);
          }
        }),
      );
      const heapAfter = o.heapSnapshots ? await liveHeap(agent.child.pid!, dir) : 0;
      const third = Math.max(1, Math.floor(rss.length / 3));
      const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length);
      const crashLines = agent
        .stderr()
        .split('\n')
        .filter((l) => /uncaught|unhandled|FATAL|heap out of memory/i.test(l));
      return {
        bmcs: n,
        seconds: o.seconds,
        faults,
        powerChanges,
        ipmi,
        redfish,
        agentAlive: agent.child.exitCode === null,
        agentExitCode: agent.child.exitCode,
        wrongPower,
        rssMiB: rss,
        rssGrowthMiB: mean(rss.slice(-third)) - mean(rss.slice(0, third)),
        liveHeapMiB: o.heapSnapshots ? { before: heapBefore / MiB, after: heapAfter / MiB } : null,
        crashLines,
      };
    } finally {
      await Promise.all(consoles.filter(Boolean).map((c) => c.close()));
      for (const c of conns) c?.close();
      await agent.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    await b.sim.stop();
  }
}
