import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retryDelaySeconds } from '../../../src/redfish/events/delivery.ts';

test('retry waits: the interval, then doubling up to the cap; constant for RetryForever', () => {
  const waits = (policy: Parameters<typeof retryDelaySeconds>[0]) =>
    [1, 2, 3, 4, 5, 6].map((n) => retryDelaySeconds(policy, 30, n, 600));
  assert.deepEqual(waits('SuspendRetries'), [30, 60, 120, 240, 480, 600]);
  assert.deepEqual(waits('TerminateAfterRetries'), [30, 60, 120, 240, 480, 600]);
  assert.deepEqual(waits('RetryForeverWithBackoff'), [30, 60, 120, 240, 480, 600]);
  assert.deepEqual(waits('RetryForever'), [30, 30, 30, 30, 30, 30]);
  assert.equal(retryDelaySeconds('SuspendRetries', 0, 3, 600), 0);
  assert.equal(retryDelaySeconds('SuspendRetries', 900, 1, 600), 900, 'the configured interval is a floor');
  assert.equal(retryDelaySeconds('RetryForeverWithBackoff', 1, 100, 600), 600);
});
