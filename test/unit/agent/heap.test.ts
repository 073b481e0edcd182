import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { AGENT_HEAP_GROWING_PERCENT, boundHeapGrowth } from '../../../src/agent/heap.ts';
import { AGENT_NODE_OPTIONS } from '../../../src/controller/builders.ts';

const REPO = new URL('../../../', import.meta.url).pathname;

/** Runs test/support/heap-churn.ts as the agent's container runs Node (its NODE_OPTIONS). */
function churn(mode: 'bound' | 'default'): { applied: number | null; peak: number; live: number } {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'test/support/heap-churn.ts', mode], {
    cwd: REPO,
    env: { ...process.env, NODE_OPTIONS: AGENT_NODE_OPTIONS },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return JSON.parse(out);
}

describe('the agent bounds its heap growth', () => {
  test('under churn the heap stays near its live size; with V8 defaults it grows to several times it', () => {
    const bound = churn('bound');
    assert.equal(bound.applied, AGENT_HEAP_GROWING_PERCENT);
    const free = churn('default');
    assert.equal(free.applied, null);
    const ratio = (r: { peak: number; live: number }) => r.peak / r.live;
    // 45 MiB live: bounded, the peak stays within about 1.3× (20 % growth plus the young
    // generation); V8's own factor let the same program reach about 3×.
    assert.ok(ratio(bound) < 1.6, `bounded peak ${ratio(bound).toFixed(2)}× the live heap`);
    assert.ok(
      ratio(free) > ratio(bound) + 0.5,
      `V8 default ${ratio(free).toFixed(2)}× vs bounded ${ratio(bound).toFixed(2)}×`,
    );
  });

  test('a growth factor given on the node command line is left alone', () => {
    assert.equal(boundHeapGrowth(['--heap-growing-percent=50']), null);
    assert.equal(boundHeapGrowth(['--heap_growing_percent=50']), null);
  });
});
