/**
 * `kubevirtbmc agent` run by hand as a standalone BMC for a VM of a cluster (here the embedded
 * one), exactly as docs/agent.md shows: --vm, --kubeconfig, --username, --password-file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { missingClients } from '../../support/clients.ts';
import { waitFor } from '../../support/wait.ts';
import {
  type AgentProcess,
  bmcYaml,
  curl,
  freePort,
  ipmitool,
  missingTools,
  REPO,
  run,
  secretYaml,
  startAgentProcess,
  TestCluster,
  vmYaml,
} from './helpers.ts';

const BIN = join(REPO, 'bin/kubevirtbmc.js');

describe('standalone agent', {
  skip: missingClients('kubectl', 'ipmitool') || missingTools('curl'),
  timeout: 300_000,
}, () => {
  let c: TestCluster;
  let agent: AgentProcess;
  let ipmi = '';
  let redfish = '';
  let health = '';

  before(async () => {
    c = await TestCluster.start();
    await c.kubectlOk(['apply', '-f', '-'], vmYaml('default', 'vm1'));
    const dir = mkdtempSync(join(tmpdir(), 'agent-'));
    writeFileSync(join(dir, 'pw'), 'standalone-pw\n');
    agent = await startAgentProcess([
      '--vm',
      'default/vm1',
      '--kubeconfig',
      c.sim.kubeconfigPath,
      '--username',
      'admin',
      '--password-file',
      join(dir, 'pw'),
    ]);
    ({ ipmi, redfish, health } = agent);
  });
  after(async () => {
    await agent?.stop();
    await c?.stop();
  });

  test('ipmitool: power status, then power on starts the VM; the Event on the VM says who', async () => {
    const st = await ipmitool(ipmi, 'admin', 'standalone-pw', 'power', 'status');
    assert.equal(st.stdout.trim(), 'Chassis Power is off', `${st.stderr}\n${agent.log()}`);
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
    assert.match(agent.log(), /"reason":"PowerAction".*"actor":"admin"/);
    assert.ok(!agent.log().includes('standalone-pw'), 'the password never appears in the log');
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
    const exited = new Promise<number | null>((r) => agent.child.once('exit', (code) => r(code)));
    agent.child.kill('SIGTERM');
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

/** Two consecutive free ports (base and base+1) for `protocol`. */
async function freePair(protocol: 'tcp' | 'udp'): Promise<number> {
  const dgram = await import('node:dgram');
  const net = await import('node:net');
  const free = (p: number) =>
    new Promise<boolean>((resolve) => {
      if (protocol === 'udp') {
        const s = dgram.createSocket('udp4');
        s.once('error', () => resolve(false));
        s.bind(p, '127.0.0.1', () => s.close(() => resolve(true)));
      } else {
        const s = net.createServer().once('error', () => resolve(false));
        s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
      }
    });
  for (;;) {
    const p = await freePort(protocol);
    if (p < 65535 && (await free(p + 1))) return p;
  }
}

describe('agent serving every VirtualMachineBMC of a namespace, without a controller', {
  skip: missingClients('kubectl', 'ipmitool'),
  timeout: 300_000,
}, () => {
  let c: TestCluster;
  let agent: AgentProcess;
  let health = '';
  let ipmiBase = 0;

  before(async () => {
    c = await TestCluster.start();
    await c.kubectlOk(['apply', '-k', 'deploy/crd/']);
    await c.kubectlOk(
      ['apply', '-f', '-'],
      [
        vmYaml('default', 'vm-a'),
        vmYaml('default', 'vm-b'),
        secretYaml('default', 'auth-a', 'alice', 'pw-a'),
        secretYaml('default', 'auth-b', 'bob', 'pw-b'),
        bmcYaml('default', 'bmc-a', 'vm-a', 'auth-a'),
        bmcYaml('default', 'bmc-b', 'vm-b', 'auth-b'),
      ].join('---\n'),
    );
    ipmiBase = await freePair('udp');
    const rfBase = await freePair('tcp');
    agent = await startAgentProcess(['--namespace', 'default', '--kubeconfig', c.sim.kubeconfigPath], {
      ipmiPort: ipmiBase,
      redfishPort: rfBase,
    });
    health = agent.health;
  });
  after(async () => {
    await agent?.stop();
    await c?.stop();
  });

  test('each BMC on base+i with its own credentials; /status says where', async () => {
    const st = (await (await fetch(`${health}/status`)).json()) as Array<{
      key: string;
      endpoints: { ipmi: string };
    }>;
    assert.deepEqual(
      st.map((s) => [s.key, s.endpoints.ipmi]),
      [
        ['default/bmc-a', `127.0.0.1:${ipmiBase}`],
        ['default/bmc-b', `127.0.0.1:${ipmiBase + 1}`],
      ],
    );
    assert.equal(
      (await ipmitool(`127.0.0.1:${ipmiBase}`, 'alice', 'pw-a', 'power', 'status')).stdout.trim(),
      'Chassis Power is off',
    );
    assert.equal(
      (await ipmitool(`127.0.0.1:${ipmiBase + 1}`, 'bob', 'pw-b', 'power', 'status')).stdout.trim(),
      'Chassis Power is off',
    );
    assert.notEqual((await ipmitool(`127.0.0.1:${ipmiBase}`, 'bob', 'pw-b', 'power', 'status')).code, 0);
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
