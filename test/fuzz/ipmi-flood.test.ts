/**
 * Bounded fuzz of the IPMI codecs and server (the full run, hundreds of thousands of packets, is
 * `npm run bench fuzz`): random and mutated datagrams, the pure decoders called directly on the same
 * bytes. Nothing may throw or escape, nothing may be logged as a failed handler, and valid sessions
 * keep answering with the machine's real power state. FUZZ_SEED replays a run.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzzIpmi } from '../../bench/lib/fuzz.ts';

const seed = Number(process.env.FUZZ_SEED ?? 0x1b2c);
const packets = Number(process.env.FUZZ_PACKETS ?? 30_000);

test(`IPMI: ${packets} fuzz packets (seed ${seed}) and nothing throws`, { timeout: 120_000 }, async () => {
  const r = await fuzzIpmi(packets, seed);
  assert.equal(r.packets, packets);
  assert.deepEqual(r.codecThrows, [], 'the decoders return null on bad input, never throw');
  assert.deepEqual(r.escaped, [], 'no exception escapes the server');
  assert.deepEqual(r.errorLogs, [], 'no handler failed');
  assert.ok(r.replies > 100, `the well-formed part of the traffic was answered (${r.replies})`);
  assert.ok(r.aliveAfter, 'suite 3 and suite 17 sessions still answer Get Chassis Status with power on');
});
