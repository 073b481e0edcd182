import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { freePodHostPort, POD_HOST_PORT_MAX, POD_HOST_PORT_MIN } from '../../src/fakecluster/ports.ts';

// Pod host ports (what the demo prints as a BMC's IPMI endpoint) must be reachable by FreeIPMI,
// which refuses ports above 32767, and never handed to two pods.

test('pod host ports are free, distinct and within 20000..32767', async () => {
  assert.equal(POD_HOST_PORT_MIN, 20000);
  assert.equal(POD_HOST_PORT_MAX, 32767);
  const seen = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const proto = i % 2 ? 'UDP' : 'TCP';
    const p = await freePodHostPort(proto);
    assert.ok(p >= 20000 && p <= 32767, `port ${p}`);
    assert.ok(!seen.has(`${p}/${proto}`), `${p}/${proto} handed out twice`);
    seen.add(`${p}/${proto}`);
  }
});

test('why: ipmiconsole refuses a port above 32767 at once', () => {
  try {
    execFileSync('ipmiconsole', ['--version'], { stdio: 'ignore' });
  } catch {
    return; // FreeIPMI not installed here; the demo's end-to-end test runs ipmiconsole itself
  }
  let out = '';
  try {
    out = execFileSync('ipmiconsole', ['-h', '127.0.0.1:40000', '-u', 'x', '-p', 'y'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 20_000,
    });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    out = `${err.stdout ?? ''}${err.stderr ?? ''}`;
  }
  assert.match(out, /hostname invalid/);
});
