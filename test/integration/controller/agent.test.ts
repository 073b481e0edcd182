/**
 * `kubevirtbmc agent` run by hand as a standalone BMC for a VM of a cluster (here the embedded
 * one), exactly as docs/agent.md shows: --vm, --kubeconfig, --username, --password-file.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { missingClients } from '../../support/clients.ts';
import { waitFor } from '../../support/wait.ts';
import { curl, freePort, ipmitool, REPO, run, TestCluster, vmYaml } from './helpers.ts';

const BIN = join(REPO, 'bin/kubevirtbmc.js');

describe('standalone agent', { skip: missingClients('kubectl', 'ipmitool'), timeout: 300_000 }, () => {
  let c: TestCluster;
  let agent: ChildProcess;
  let log = '';
  let ipmi = '';
  let redfish = '';
  let health = '';

  before(async () => {
    c = await TestCluster.start();
    await c.kubectlOk(['apply', '-f', '-'], vmYaml('default', 'vm1'));
    const dir = mkdtempSync(join(tmpdir(), 'agent-'));
    writeFileSync(join(dir, 'pw'), 'standalone-pw\n');
    const [ip, rf, mp] = [await freePort('udp'), await freePort(), await freePort()];
    ipmi = `127.0.0.1:${ip}`;
    redfish = `http://127.0.0.1:${rf}`;
    health = `http://127.0.0.1:${mp}`;
    agent = spawn(
      process.execPath,
      [
        BIN,
        'agent',
        '--vm',
        'default/vm1',
        '--kubeconfig',
        c.sim.kubeconfigPath,
        '--username',
        'admin',
        '--password-file',
        join(dir, 'pw'),
        '--ipmi-port',
        String(ip),
        '--redfish-port',
        String(rf),
        '--metrics-port',
        String(mp),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, POD_IP: '' } },
    );
    agent.stdout!.on('data', (d) => {
      log += d;
    });
    agent.stderr!.on('data', (d) => {
      log += d;
    });
    await waitFor(async () => (await fetch(`${health}/readyz`).catch(() => null))?.status === 200, {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: 'agent ready',
    });
  });
  after(async () => {
    if (agent && agent.exitCode === null) agent.kill('SIGKILL');
    await c?.stop();
  });

  test('ipmitool: power status, then power on starts the VM; the Event on the VM says who', async () => {
    const st = await ipmitool(ipmi, 'admin', 'standalone-pw', 'power', 'status');
    assert.equal(st.stdout.trim(), 'Chassis Power is off', `${st.stderr}\n${log}`);
    const on = await ipmitool(ipmi, 'admin', 'standalone-pw', 'power', 'on');
    assert.equal(on.stdout.trim(), 'Chassis Power Control: Up/On', on.stderr);
    await waitFor(async () => (await c.getJson(['vmi', 'vm1']).catch(() => null)) !== null, {
      timeoutMs: 30_000,
      intervalMs: 250,
      what: 'a VMI',
    });
    const ev = await waitFor(
      async () =>
        (await c.getJson(['events'])).items.find(
          (e: { involvedObject: { kind: string; name: string }; reason: string }) =>
            e.involvedObject.kind === 'VirtualMachine' &&
            e.involvedObject.name === 'vm1' &&
            e.reason === 'PowerAction',
        ),
      { timeoutMs: 20_000, intervalMs: 250, what: 'PowerAction Event' },
    );
    assert.match(ev.message, /^power On by admin from 127\.0\.0\.1:\d+ over ipmi$/);
    assert.match(log, /"reason":"PowerAction".*"actor":"admin"/);
    assert.ok(!log.includes('standalone-pw'), 'the password never appears in the log');
  });

  test('a wrong password is refused by IPMI and Redfish', async () => {
    assert.notEqual((await ipmitool(ipmi, 'admin', 'wrong', 'power', 'status')).code, 0);
    assert.equal(
      (await curl(`${redfish}/redfish/v1/Systems/1`, 'admin', 'wrong')).stdout.trim().split('\n').at(-1),
      '401',
    );
  });

  test('curl GETs the Redfish system', async () => {
    const r = await curl(`${redfish}/redfish/v1/Systems/1`, 'admin', 'standalone-pw');
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.at(-1), '200', r.stderr);
    assert.equal(JSON.parse(lines.slice(0, -1).join('\n')).Id, '1');
  });

  test('/metrics counts the action; /healthz answers', async () => {
    assert.equal((await fetch(`${health}/healthz`)).status, 200);
    const m = await (await fetch(`${health}/metrics`)).text();
    assert.match(
      m,
      /kubevirtbmc_agent_actions_total\{bmc="default\/vm1",reason="PowerAction",protocol="ipmi",result="success"\} 1/,
    );
    assert.match(m, /kubevirtbmc_agent_bmcs 1/);
  });

  test('SIGTERM stops it cleanly and frees its ports', async () => {
    const exited = new Promise<number | null>((r) => agent.once('exit', (code) => r(code)));
    agent.kill('SIGTERM');
    assert.equal(await exited, 0);
    const net = await import('node:net');
    const port = Number(new URL(redfish).port);
    await new Promise<void>((resolve, reject) => {
      const s = net
        .createServer()
        .once('error', reject)
        .listen(port, '127.0.0.1', () => s.close(() => resolve()));
    });
  });
});

describe('agent usage errors', () => {
  for (const [args, re] of [
    [['agent'], /give --vm NAMESPACE\/NAME or --namespace NAMESPACE/],
    [['agent', '--vm', 'default/vm1'], /give --username with --password-file/],
    [['agent', '--vm', 'vm1'], /must be NAMESPACE\/NAME/],
    [['agent', '--vm', 'a/b', '--namespace', 'x'], /exclusive/],
    [
      ['agent', '--vm', 'a/b', '--username', 'u', '--password-file', '/nonexistent'],
      /cannot read --password-file/,
    ],
  ] as const) {
    test(`kubevirtbmc ${args.join(' ')}`, async () => {
      const r = await run(process.execPath, [BIN, ...args], { timeoutMs: 30_000 });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, re);
    });
  }
});
