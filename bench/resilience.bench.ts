/**
 * Resilience run (bounded, stops by itself): one agent serving N BMCs under sustained IPMI and
 * Redfish load while the embedded cluster drops watches, answers 500/410/429, compacts, stalls and
 * restarts its API server, and VMs are power-cycled underneath. Prints the faults injected, the
 * load served, whether the agent survived, any BMC reporting a power state other than the
 * cluster's once it is back, and resident memory across the run (a leak shows as growth).
 *
 *   npm run bench resilience -- [--bmcs 50] [--seconds 60] [--fault-every 1000] [--heap 0] [--faults 0 | --load 0]
 */
import { conditions, numFlag } from './lib/common.ts';
import { runResilience } from './lib/resilience.ts';

const r = await runResilience({
  bmcs: numFlag('bmcs', 50),
  seconds: numFlag('seconds', 60),
  faultEveryMs: numFlag('fault-every', 1000),
  // A full-GC heap measurement before and after (a few seconds each); off with --heap=0.
  heapSnapshots: numFlag('heap', 1) !== 0,
  // Diagnostics: --faults 0 (load only) or --load 0 (faults only) tell apart where growth comes from.
  faults: numFlag('faults', 1) !== 0,
  load: numFlag('load', 1) !== 0,
  log: (l) => console.log(`# ${l}`),
});
const rss = r.rssMiB;
console.log(`Resilience, ${r.bmcs} BMCs, ${r.seconds} s; ${conditions()}`);
console.log(`faults injected: ${JSON.stringify(r.faults)}; VM power changes underneath: ${r.powerChanges}`);
console.log(
  `IPMI requests: ${r.ipmi.ok} answered, ${r.ipmi.failed} failed; Redfish: ${r.redfish.ok} answered, ${r.redfish.failed} failed`,
);
console.log(
  `agent alive: ${r.agentAlive}${r.agentAlive ? '' : ` (exit ${r.agentExitCode})`}; crash lines in its log: ${r.crashLines.length}`,
);
console.log(
  `wrong power state once the cluster was back: ${r.wrongPower.length}${r.wrongPower.length ? ` (${r.wrongPower.slice(0, 5).join('; ')})` : ''}`,
);
console.log(
  `agent RSS: start ${rss[0]?.toFixed(1)} MiB, min ${Math.min(...rss).toFixed(1)}, max ${Math.max(...rss).toFixed(1)}, end ${rss.at(-1)?.toFixed(1)}; last third minus first third: ${r.rssGrowthMiB >= 0 ? '+' : ''}${r.rssGrowthMiB.toFixed(1)} MiB`,
);
if (r.liveHeapMiB)
  console.log(
    `agent live JS heap after a full GC: before the run ${r.liveHeapMiB.before.toFixed(1)} MiB, after ${r.liveHeapMiB.after.toFixed(1)} MiB (${r.liveHeapMiB.after - r.liveHeapMiB.before >= 0 ? '+' : ''}${(r.liveHeapMiB.after - r.liveHeapMiB.before).toFixed(1)} MiB)`,
  );
if (!r.agentAlive || r.wrongPower.length || r.crashLines.length) process.exitCode = 1;
