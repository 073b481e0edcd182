/**
 * The benchmarks still run: each bench/*.bench.ts in its smallest form (seconds), checking that it
 * exits cleanly and printed its figures. No timing is asserted: the figures are for people
 * (`npm run bench` runs the full set; docs/performance.md has the results).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type ServerHandle, startServer } from '../../bench/lib/serve.ts';

const REPO = new URL('../../', import.meta.url).pathname;

function bench(
  file: string,
  args: string[],
  timeoutMs = 90_000,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `bench/${file}`, ...args], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** A table row: name, then throughput, p50 and p99 as numbers. */
function row(out: string, name: RegExp): number[] {
  const line = out.split('\n').find((l) => name.test(l));
  assert.ok(line, `a line matching ${name} in:\n${out}`);
  const nums = line
    .replace(name, '')
    .trim()
    .split(/\s+/)
    .map((x) => Number(x.replace('%', '')));
  assert.ok(
    nums.slice(0, 3).every((x) => Number.isFinite(x) && x > 0),
    `figures in: ${line}`,
  );
  return nums;
}

describe('benchmarks, smallest form', { concurrency: 1 }, () => {
  test('every bench/*.bench.ts is covered here', () => {
    const benches = readdirSync(`${REPO}bench`)
      .filter((f) => f.endsWith('.bench.ts'))
      .sort();
    assert.deepEqual(benches, [
      'fuzz.bench.ts',
      'ipmi.bench.ts',
      'redfish-events.bench.ts',
      'redfish.bench.ts',
      'resilience.bench.ts',
      'scale.bench.ts',
    ]);
  });

  test('ipmi: Get Chassis Status (suites 3, 17), handshakes, dgram echo baseline', async () => {
    const r = await bench('ipmi.bench.ts', ['--seconds', '0.3', '--sessions', '2']);
    assert.equal(r.code, 0, r.out);
    row(r.out, /^dgram echo, 2 sockets \(baseline\)/);
    const s3 = row(r.out, /^suite 3, Get Chassis Status/);
    row(r.out, /^suite 17, Get Chassis Status/);
    row(r.out, /^suite 17, RMCP\+ handshake/);
    assert.ok(s3[3]! > 0, 'ratio to the echo baseline printed');
  });

  test('redfish: session and Basic auth against a bare node:http baseline', async () => {
    const r = await bench('redfish.bench.ts', ['--seconds', '0.3', '--connections', '2']);
    assert.equal(r.code, 0, r.out);
    row(r.out, /^bare node:http, same bytes \(baseline\)/);
    row(r.out, /^GET \/redfish\/v1\/Systems\/1, session token/);
    row(r.out, /^GET \/redfish\/v1\/Systems\/1, Basic auth/);
  });

  test('redfish-events: delivery and SSE beside a node:http POST baseline, reset cost with hanging subscribers', async () => {
    const r = await bench('redfish-events.bench.ts', ['--events', '200', '--resets', '30']);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /bare node:http POST loop \(baseline\)\s+\d+ POST\/s/);
    assert.match(r.out, /events pushed to one subscriber\s+\d+ events\/s \([\d.]+x baseline\)/);
    assert.match(r.out, /events read by one SSE client\s+\d+ events\/s/);
    assert.match(r.out, /Reset, 16 hanging destinations\s+p50 [\d.]+ ms\s+p99 [\d.]+ ms/);
  });

  describe('pointed at another BMC by host, port and credentials', () => {
    let ipmi: ServerHandle;
    let redfish: ServerHandle;
    const creds = { username: 'someone', password: 'Other-pass9' };
    before(async () => {
      ipmi = await startServer('ipmi', creds);
      redfish = await startServer('redfish', { ...creds, tls: true });
    });
    after(async () => {
      await ipmi?.stop();
      await redfish?.stop();
    });

    test('ipmi --host: drives that BMC, suite 17 only', async () => {
      const r = await bench('ipmi.bench.ts', [
        ...['--host', '127.0.0.1', '--port', String(ipmi.port), '--username', creds.username],
        ...['--password', creds.password, '--suite', '17', '--sessions', '2', '--seconds', '0.3'],
      ]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, new RegExp(`^IPMI 127\\.0\\.0\\.1:${ipmi.port};`, 'm'));
      row(r.out, /^suite 17, Get Chassis Status/);
      assert.doesNotMatch(r.out, /^suite 3,/m);
    });

    test('ipmi --host with a wrong password: a clear error, non-zero exit', async () => {
      const r = await bench('ipmi.bench.ts', [
        ...['--host', '127.0.0.1', '--port', String(ipmi.port), '--username', creds.username],
        ...['--password', 'wrong-pass', '--suite', '17', '--sessions', '1', '--seconds', '0.3'],
      ]);
      assert.notEqual(r.code, 0);
      assert.match(r.out, /RAKP 2 HMAC does not match: wrong password\?/);
    });

    test('redfish --host --https: finds the System and drives it', async () => {
      const r = await bench('redfish.bench.ts', [
        ...['--host', '127.0.0.1', '--port', String(redfish.port), '--https', '--username', creds.username],
        ...['--password', creds.password, '--seconds', '0.3', '--connections', '2'],
      ]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, new RegExp(`^Redfish 127\\.0\\.0\\.1:${redfish.port} over TLS;`, 'm'));
      row(r.out, /^bare node:https, same bytes \(baseline\)/);
      row(r.out, /^GET \/redfish\/v1\/Systems\/1, session token/);
    });
  });

  test('scale: one agent, a few BMCs, and the controller to Ready', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
    const r = await bench('scale.bench.ts', [
      ...['--bmcs', '2,3', '--seconds', '0.5', '--controller-bmcs', '3'],
      ...['--json', join(dir, 'scale.json'), '--svg', join(dir, 'scale.svg')],
    ]);
    assert.equal(r.code, 0, r.out);
    const svg = readFileSync(join(dir, 'scale.svg'), 'utf8');
    rmSync(dir, { recursive: true, force: true });
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.equal(svg.match(/<polyline /g)?.length, 7, 'four latency lines and three memory lines');
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    assert.match(
      r.out,
      /3 BMCs \((dist|tsx)\): all answering after [\d.]+ s; RSS [\d.]+ MiB idle, [\d.]+ MiB paced \(\d+ req\/s, 0 errors\), [\d.]+ MiB flat out/,
    );
    assert.match(r.out, /IPMI Get Chassis Status, 3 BMCs: \d+ req\/s, p50 \d+ µs, p99 \d+ µs, errors 0/);
    assert.match(r.out, /Redfish GET Systems\/1, 3 BMCs: \d+ req\/s, p50 \d+ µs, p99 \d+ µs, errors 0/);
    assert.match(r.out, /wrong power state: 0; .*API requests while polled: 0 \(non-watch\)/);
    assert.match(r.out, /controller: 3 VirtualMachineBMCs Ready after [\d.]+ s; \d+ API requests/);
  });

  test('resilience: a few seconds of faults', async () => {
    const r = await bench('resilience.bench.ts', [
      '--bmcs',
      '3',
      '--seconds',
      '4',
      '--fault-every',
      '400',
      '--heap',
      '0',
    ]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /agent alive: true; crash lines in its log: 0/);
    assert.match(r.out, /wrong power state once the cluster was back: 0/);
    assert.match(r.out, /agent RSS: start [\d.]+ MiB/);
  });

  test('fuzz: a few thousand packets and requests', async () => {
    const r = await bench('fuzz.bench.ts', ['--packets', '5000', '--requests', '300']);
    assert.equal(r.code, 0, r.out);
    assert.match(
      r.out,
      /IPMI: 5000 packets .* 0 threw; escaped exceptions 0; error logs 0; valid sessions still answer: true/,
    );
    assert.match(
      r.out,
      /Redfish: 300 requests .* 5xx 0; .*escaped exceptions 0; error logs 0 .*still answers: true/,
    );
  });
});
