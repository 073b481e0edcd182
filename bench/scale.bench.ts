/**
 * Scale: one agent process serving N BMCs (N = 10, 100, 300, 1000 by default) from the embedded
 * cluster, in the agent's namespace mode (every VirtualMachineBMC of the namespace, the i-th on
 * base+i). For each N: start-up time until every BMC answers both IPMI (an RMCP+ session opens
 * with that BMC's own password) and Redfish (GET Systems/1 with its PowerState), resident memory
 * in total and per BMC (idle; after every BMC was polled over both protocols once per
 * --paced-period seconds, as provisioning tools poll; after flat-out polling), IPMI and Redfish
 * latency while all N are polled round robin as fast as they answer (the power
 * state checked against the VM each time), and the API requests those reads cost. Then the
 * controller reconciling N VirtualMachineBMCs to Ready: time and API requests, from the sim's
 * request log.
 *
 *   npm run bench scale -- [--bmcs 10,100,300,1000] [--seconds 5] [--controller-bmcs 1000] [--paced-period 2]
 *                          [--json bench/results/scale.json] [--svg docs/performance-scale.svg]
 *                          [--plain-api]   (diagnostic: agent to API server without TLS)
 *                          [--node-options='...']   (the agent's NODE_OPTIONS; default: what the
 *                          controller's Deployments set, AGENT_NODE_OPTIONS; '' for Node's defaults)
 *
 * The agent runs from dist/ when built (`npm run build`; `npm run bench` builds first), otherwise
 * through tsx, which costs extra memory; the output says which.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { AGENT_NODE_OPTIONS } from '../src/controller/builders.ts';
import { BmcController } from '../src/controller/controller.ts';
import { kubeConfigFor } from '../test/support/sim-fixtures.ts';
import {
  basicFor,
  connectAll,
  expectOn,
  NS,
  owned,
  populate,
  REPO,
  startAgent,
  startBench,
} from './lib/cluster.ts';
import {
  boolFlag,
  conditions,
  type LoadResult,
  MiB,
  numFlag,
  Recorder,
  rssOf,
  sleep,
  strFlag,
} from './lib/common.ts';
import { HttpConn } from './lib/http-conn.ts';
import { GET_CHASSIS_STATUS, type RmcpConsole } from './lib/rmcp.ts';

const sizes = strFlag('bmcs', '10,100,300,1000')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const seconds = numFlag('seconds', 5);
const controllerBmcs = numFlag('controller-bmcs', Math.max(...sizes));
const concurrency = numFlag('concurrency', 16);
/** Seconds between two polls of one BMC in the paced phase (each poll: one IPMI, one Redfish). */
const pacedPeriod = numFlag('paced-period', 2);
const jsonOut = strFlag('json');
/** Diagnostic: the agent talks plain HTTP to the API server (isolates what TLS costs). */
const plainApi = boolFlag('plain-api');
/** The agent's NODE_OPTIONS; default: what the controller's agent Deployments set. */
const nodeOptions = strFlag('node-options', AGENT_NODE_OPTIONS);

export interface ScalePoint {
  bmcs: number;
  startupSeconds: number;
  rssIdleMiB: number;
  /** RSS after `seconds` of every BMC polled once per `pacedPeriod` over each protocol. */
  rssPacedMiB: number;
  pacedRate: number;
  pacedErrors: number;
  rssLoadedMiB: number;
  perBmcKiB: number;
  ipmi: LoadResult;
  redfish: LoadResult;
  wrongPower: number;
  reconnects: number;
  startupRequests: Record<string, number>;
  pollRequests: number;
  build: string;
}

function byVerb(rs: ReadonlyArray<{ verb: string }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rs) out[r.verb] = (out[r.verb] ?? 0) + 1;
  return out;
}

async function agentAt(n: number): Promise<ScalePoint> {
  const b = await startBench();
  try {
    await populate(b, 0, n);
    b.sim.stats.reset();
    const agent = await startAgent(b, n, {}, { plainApi, nodeOptions });
    const t0 = Date.now();
    const consoles: RmcpConsole[] = new Array(n);
    const conns: HttpConn[] = new Array(n);
    try {
      await connectAll(agent, n, concurrency, consoles, conns);
      const startupSeconds = (Date.now() - t0) / 1000;
      const startupRequests = byVerb(b.sim.stats.requests());
      await sleep(1000);
      const rssIdle = rssOf(agent.child.pid!) ?? 0;
      b.sim.stats.reset();

      let wrongPower = 0;
      let reconnects = 0;
      const redfishGet = async (i: number) => {
        try {
          return await conns[i]!.request('GET', '/redfish/v1/Systems/1', basicFor(i));
        } catch {
          // The server closed an idle keep-alive connection (as node:http does after 5 s): a
          // client reconnects; that is not an error of the BMC.
          conns[i]!.close();
          conns[i] = new HttpConn('127.0.0.1', agent.redfishBase + i);
          reconnects++;
          return await conns[i]!.request('GET', '/redfish/v1/Systems/1', basicFor(i));
        }
      };

      // Paced first (RSS rarely falls once grown): every BMC asked its power state over IPMI and
      // over Redfish once per period, as provisioning tools poll, spread evenly over the period.
      let pacedErrors = 0;
      const pacedEnd = Date.now() + seconds * 1000;
      await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          await sleep((i / n) * pacedPeriod * 1000);
          while (Date.now() < pacedEnd) {
            const next = Date.now() + pacedPeriod * 1000;
            try {
              const r = await consoles[i]!.call(GET_CHASSIS_STATUS.netFn, GET_CHASSIS_STATUS.cmd, [], 2000);
              if (r.completionCode !== 0) pacedErrors++;
              else if (((r.data[0]! & 1) === 1) !== expectOn(i)) wrongPower++;
              const h = await redfishGet(i);
              if (h.status !== 200) pacedErrors++;
              else if ((JSON.parse(h.body.toString()).PowerState === 'On') !== expectOn(i)) wrongPower++;
            } catch {
              pacedErrors++;
            }
            await sleep(Math.max(0, next - Date.now()));
          }
        }),
      );
      const rssPaced = rssOf(agent.child.pid!) ?? 0;

      const poll = async (name: string, one: (i: number) => Promise<boolean>): Promise<LoadResult> => {
        const rec = new Recorder();
        const end = Date.now() + seconds * 1000;
        // Each BMC belongs to one worker, so no two requests share a session or a connection.
        const workers = Math.min(concurrency, n);
        await Promise.all(
          Array.from({ length: workers }, async (_, w) => {
            const mine = owned(w, workers, n);
            for (let k = 0; Date.now() < end; k++) {
              const i = mine[k % mine.length]!;
              const t = Recorder.now();
              try {
                if (await one(i)) rec.add(t);
                else rec.errors++;
              } catch {
                rec.errors++;
              }
            }
          }),
        );
        return rec.result(name);
      };
      const ipmi = await poll(`IPMI Get Chassis Status, ${n} BMCs`, async (i) => {
        const r = await consoles[i]!.call(GET_CHASSIS_STATUS.netFn, GET_CHASSIS_STATUS.cmd, [], 2000);
        if (r.completionCode !== 0) return false;
        if (((r.data[0]! & 1) === 1) !== expectOn(i)) wrongPower++;
        return true;
      });
      const redfish = await poll(`Redfish GET Systems/1, ${n} BMCs`, async (i) => {
        const r = await redfishGet(i);
        if (r.status !== 200) return false;
        if ((JSON.parse(r.body.toString()).PowerState === 'On') !== expectOn(i)) wrongPower++;
        return true;
      });
      const pollRequests = b.sim.stats.requests().filter((r) => r.verb !== 'watch').length;
      const rssLoaded = rssOf(agent.child.pid!) ?? 0;
      return {
        bmcs: n,
        startupSeconds,
        rssIdleMiB: rssIdle / MiB,
        rssPacedMiB: rssPaced / MiB,
        pacedRate: (2 * n) / pacedPeriod,
        pacedErrors,
        rssLoadedMiB: rssLoaded / MiB,
        perBmcKiB: Math.max(rssIdle, rssLoaded) / 1024 / n,
        ipmi,
        redfish,
        wrongPower,
        reconnects,
        startupRequests,
        pollRequests,
        build: agent.build,
      };
    } finally {
      await Promise.all(consoles.filter(Boolean).map((c) => c.close()));
      for (const c of conns) c?.close();
      const code = await agent.stop();
      if (code !== 0 && code !== null)
        console.error(`agent exit code ${code}: ${agent.stderr().slice(-2000)}`);
    }
  } finally {
    await b.sim.stop();
  }
}

async function controllerAt(
  n: number,
): Promise<{ seconds: number; requests: Record<string, number>; total: number }> {
  const b = await startBench();
  try {
    await populate(b, 0, n);
    b.sim.stats.reset();
    const controller = new BmcController({
      kubeConfig: kubeConfigFor(b.sim.kubeconfigPath),
      placement: 'shared',
      // An image the embedded kubelet does not run: this measures the controller alone.
      agent: { image: 'registry.example/not-an-agent:1' },
      metricsPort: null,
    });
    const t0 = Date.now();
    await controller.start();
    try {
      for (;;) {
        const r = await b.http.req(
          'GET',
          `/apis/bmc.kubevirt.io/v1beta1/namespaces/${NS}/virtualmachinebmcs`,
        );
        const ready = (r.json.items ?? []).filter(
          (x: { status?: { conditions?: Array<{ type: string; status: string }> } }) =>
            x.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        ).length;
        if (ready === n) break;
        if (Date.now() - t0 > 600_000) throw new Error(`only ${ready}/${n} Ready after 600 s`);
        await sleep(250);
      }
      const seconds = (Date.now() - t0) / 1000;
      await controller.idle();
      const mine = b.sim.stats.requests().filter((r) => r.userAgent?.startsWith('kubevirtbmc-controller'));
      return { seconds, requests: byVerb(mine), total: mine.filter((r) => r.verb !== 'watch').length };
    } finally {
      await controller.stop();
    }
  } finally {
    await b.sim.stop();
  }
}

const startedAt = conditions();
const fmt = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');
console.log(
  `Scale, one agent process, namespace mode${plainApi ? ', agent to API server over plain HTTP (diagnostic)' : ''}, agent NODE_OPTIONS=${JSON.stringify(nodeOptions)}; ${seconds} s of polling per protocol, ${concurrency} requests in flight; ${startedAt}`,
);
const points: ScalePoint[] = [];
for (const n of sizes) {
  const p = await agentAt(n);
  points.push(p);
  console.log(
    `${String(n).padStart(5)} BMCs (${p.build}): all answering after ${fmt(p.startupSeconds, 1)} s; RSS ${fmt(p.rssIdleMiB, 1)} MiB idle, ${fmt(p.rssPacedMiB, 1)} MiB paced (${fmt(p.pacedRate)} req/s, ${p.pacedErrors} errors), ${fmt(p.rssLoadedMiB, 1)} MiB flat out (${fmt(p.perBmcKiB)} KiB per BMC)`,
  );
  for (const r of [p.ipmi, p.redfish])
    console.log(
      `      ${r.name}: ${fmt(r.count / r.seconds)} req/s, p50 ${fmt(r.p50)} µs, p99 ${fmt(r.p99)} µs, errors ${r.errors}`,
    );
  console.log(
    `      wrong power state: ${p.wrongPower}; Redfish reconnects: ${p.reconnects}; API requests while polled: ${p.pollRequests} (non-watch); start-up requests: ${JSON.stringify(p.startupRequests)}`,
  );
}
let controller: Awaited<ReturnType<typeof controllerAt>> | null = null;
if (controllerBmcs > 0) {
  controller = await controllerAt(controllerBmcs);
  console.log(
    `controller: ${controllerBmcs} VirtualMachineBMCs Ready after ${fmt(controller.seconds, 1)} s; ${controller.total} API requests besides watches (${fmt(controller.total / controllerBmcs, 2)} per BMC): ${JSON.stringify(controller.requests)}`,
  );
}
if (jsonOut) {
  const path = jsonOut.startsWith('/') ? jsonOut : `${REPO}${jsonOut}`;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(
    path,
    `${JSON.stringify({ when: `started ${startedAt}`, seconds, concurrency, points, controller: controller && { bmcs: controllerBmcs, ...controller } }, null, 2)}\n`,
  );
  console.log(`figures written to ${jsonOut}`);
}
const svgOut = strFlag('svg');
if (svgOut) {
  const { plotSvg } = await import('./plot.ts');
  writeFileSync(
    svgOut.startsWith('/') ? svgOut : `${REPO}${svgOut}`,
    plotSvg(points, `started ${startedAt}`),
  );
  console.log(`plot written to ${svgOut}`);
}
if (points.some((p) => p.wrongPower > 0 || p.ipmi.count === 0 || p.redfish.count === 0)) process.exitCode = 1;
