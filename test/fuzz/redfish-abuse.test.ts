/**
 * Bounded fuzz of the Redfish service (the full run is `npm run bench fuzz`): odd methods and paths,
 * malformed and huge bodies, bad Content-Length, abusive headers and credentials. No 5xx, every JSON
 * error carries a DMTF error body, no exception escapes, and the service still answers afterwards.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzzRedfish } from '../../bench/lib/fuzz.ts';

const seed = Number(process.env.FUZZ_SEED ?? 0x2c3d);
const requests = Number(process.env.FUZZ_REQUESTS ?? 1500);

test(`Redfish: ${requests} abusive requests (seed ${seed}) and no 5xx, no crash`, {
  timeout: 120_000,
}, async () => {
  const r = await fuzzRedfish(requests, seed);
  assert.equal(r.requests, requests);
  assert.deepEqual(r.serverErrors, [], 'no request ends in a 5xx');
  assert.deepEqual(r.bareErrors, [], 'JSON errors carry {"error": {...}}');
  assert.deepEqual(r.escaped, [], 'no exception escapes the service');
  assert.deepEqual(r.errorLogs, [], 'no handler failed');
  assert.ok((r.statuses['400'] ?? 0) > 0 && (r.statuses['401'] ?? 0) > 0 && (r.statuses['404'] ?? 0) > 0);
  assert.ok((r.statuses['200'] ?? 0) > 0, 'well-formed authenticated requests still succeed');
  assert.ok(r.aliveAfter, 'GET Systems/1 answers with a PowerState afterwards');
});
