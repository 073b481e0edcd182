/**
 * Short resilience run (the long one is `npm run bench resilience`): one agent process serving
 * several BMCs from the embedded cluster under IPMI and Redfish load while the cluster drops
 * watches, answers 500/410/429, compacts, stalls, restarts its API server, and VMs change power
 * state underneath. The agent must survive and, once the cluster is back, every BMC must report
 * the power state the cluster has, over IPMI and Redfish.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runResilience } from '../../bench/lib/resilience.ts';

test('agent under API faults and power changes: no crash, no wrong power state', {
  timeout: 180_000,
}, async () => {
  const r = await runResilience({ bmcs: 6, seconds: 10, faultEveryMs: 600 });
  console.log(
    `# faults ${JSON.stringify(r.faults)}; power changes ${r.powerChanges}; IPMI ${r.ipmi.ok}/${r.ipmi.failed}; Redfish ${r.redfish.ok}/${r.redfish.failed}; RSS ${r.rssMiB[0]?.toFixed(0)}→${r.rssMiB.at(-1)?.toFixed(0)} MiB`,
  );
  for (const kind of ['dropWatches', 'fail500', 'fail410', 'compact', 'restart', 'latency', 'powerCycle'])
    assert.ok((r.faults[kind] ?? 0) > 0, `fault ${kind} was injected`);
  assert.ok(r.agentAlive, `the agent is still running (exit ${r.agentExitCode})`);
  assert.deepEqual(r.crashLines, [], 'no uncaught exception in the agent log');
  assert.ok(r.ipmi.ok > 0 && r.redfish.ok > 0, 'both protocols answered during the faults');
  assert.deepEqual(r.wrongPower, [], 'every BMC reports the cluster power state once it is back');
});
