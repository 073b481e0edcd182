/**
 * Credentials end to end, on a cluster:
 * - the agent (as `kubevirtbmc agent --vm … --bmc … --auth-secret …`) ends every Redfish and IPMI
 *   session opened with a password the moment its Secret changes, and records a `SessionsEnded`
 *   Event on the VirtualMachineBMC (docs/security.md);
 * - a Secret over IPMI's limits: the agent serves it over Redfish, refuses it over IPMI, and says so
 *   once; the controller sets SecretAvailable/Ready False (IPMICredentialsTooLong) with an Event;
 * - the CLI refuses `--password` values IPMI cannot carry, naming the limit; 20 bytes work.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BmcController } from '../../../src/controller/controller.ts';
import { missingClients } from '../../support/clients.ts';
import { curlSessionLogin, curlSystemStatus } from '../../support/redfish-curl.ts';
import { waitFor } from '../../support/wait.ts';
import {
  type AgentProcess,
  bmcYaml,
  curl,
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
const FIRST = 'first-password';
const SECOND = 'second-password';
const TOO_LONG = 'x'.repeat(21);

/** `ipmitool shell`: one RMCP+ session held open, commands on stdin. */
class IpmiShell {
  readonly child: ChildProcess;
  #out = '';
  #commands = 0;

  constructor(endpoint: string, user: string, password: string) {
    const [host, port] = endpoint.split(':') as [string, string];
    this.child = spawn(
      'ipmitool',
      ['-I', 'lanplus', '-H', host, '-p', port, '-U', user, '-P', password, '-N', '1', '-R', '1', 'shell'],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const add = (d: Buffer) => {
      this.#out += d.toString('latin1');
    };
    this.child.stdout!.on('data', add);
    this.child.stderr!.on('data', add);
  }

  /** Types a command and waits for the prompt after it; returns what it printed. */
  async command(line: string): Promise<string> {
    const from = this.#out.length;
    const prompts = ++this.#commands + 1;
    this.child.stdin!.write(`${line}\n`);
    await waitFor(() => this.#out.split('ipmitool> ').length - 1 >= prompts, {
      timeoutMs: 20_000,
      intervalMs: 50,
      what: `ipmitool shell: ${line}`,
    });
    return this.#out.slice(from);
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

/** The Events on VirtualMachineBMC `bmc` with `reason`. */
async function bmcEvents(c: TestCluster, ns: string, bmc: string, reason: string) {
  const list = await c.getJson(['-n', ns, 'events']);
  return (
    list.items as Array<{
      involvedObject: { kind: string; name: string };
      reason: string;
      type: string;
      message: string;
      count?: number;
      firstTimestamp?: string;
    }>
  ).filter(
    (e) =>
      e.involvedObject.kind === 'VirtualMachineBMC' && e.involvedObject.name === bmc && e.reason === reason,
  );
}

const status = async (base: string, user: string, password: string) =>
  (await curl(`${base}/redfish/v1/Systems/1`, user, password)).stdout.trim().split('\n').at(-1);

describe('kubevirtbmc agent: --password values IPMI cannot carry are refused at start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agent-pw-'));
  writeFileSync(join(dir, 'long'), `${TOO_LONG}\n`);
  for (const [what, args, re] of [
    [
      'a 21-byte --password',
      ['--username', 'admin', '--password', TOO_LONG],
      /^kubevirtbmc agent: --password: password is 21 bytes; IPMI allows at most 20; shorten it, or give --ipmi-port 0 to serve Redfish only$/m,
    ],
    [
      'a 21-byte --password-file',
      ['--username', 'admin', '--password-file', join(dir, 'long')],
      /^kubevirtbmc agent: --password-file: password is 21 bytes; IPMI allows at most 20; shorten it/m,
    ],
    [
      'a 17-byte --username',
      ['--username', 'u'.repeat(17), '--password', 'pw'],
      /^kubevirtbmc agent: --username: username is 17 bytes; IPMI allows at most 16; shorten it/m,
    ],
    [
      'an empty --password',
      ['--username', 'admin', '--password', ''],
      /^kubevirtbmc agent: --password: password is missing or empty$/m,
    ],
  ] as const) {
    test(what, async () => {
      const r = await run(process.execPath, [BIN, 'agent', '--vm', 'default/vm1', ...args], {
        timeoutMs: 30_000,
      });
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, re);
      assert.ok(!r.stderr.includes(TOO_LONG), 'the password is not echoed');
      assert.doesNotMatch(r.stdout + r.stderr, /listening|serving/);
    });
  }
});

describe('credentials on a cluster', {
  skip: missingClients('kubectl', 'ipmitool') || missingTools('curl'),
  timeout: 600_000,
}, () => {
  let c: TestCluster;
  const shells: IpmiShell[] = [];
  const agents: AgentProcess[] = [];

  before(async () => {
    c = await TestCluster.start();
    await c.kubectlOk(['apply', '-k', 'deploy/crd/']);
    await c.kubectlOk(
      ['apply', '-f', '-'],
      [
        vmYaml('default', 'vm1'),
        secretYaml('default', 'auth1', 'admin', FIRST),
        bmcYaml('default', 'bmc1', 'vm1', 'auth1'),
      ].join('---\n'),
    );
  });
  after(async () => {
    for (const s of shells) s.kill();
    for (const a of agents) await a.stop().catch(() => {});
    await c?.stop();
  });

  test('a 20-byte --password works over IPMI (ipmitool -I lanplus) and Redfish', async () => {
    const pw = '01234567890123456789';
    const a = await startAgentProcess([
      '--vm',
      'default/vm1',
      '--kubeconfig',
      c.sim.kubeconfigPath,
      '--username',
      'admin',
      '--password',
      pw,
    ]);
    agents.push(a);
    try {
      const st = await ipmitool(a.ipmi, 'admin', pw, 'power', 'status');
      assert.equal(st.stdout.trim(), 'Chassis Power is off', st.stderr + a.log());
      assert.equal(await status(a.redfish, 'admin', pw), '200');
    } finally {
      await a.stop();
    }
  });

  test('with --ipmi-port 0 a 21-byte --password is accepted: Redfish only', async () => {
    const a = await startAgentProcess(
      [
        '--vm',
        'default/vm1',
        '--kubeconfig',
        c.sim.kubeconfigPath,
        '--username',
        'admin',
        '--password',
        TOO_LONG,
      ],
      { ipmiPort: 0 },
    );
    try {
      assert.equal(await status(a.redfish, 'admin', TOO_LONG), '200', a.log());
      const st = (await (await fetch(`${a.health}/status`)).json()) as Array<{
        problems: string[];
      }>;
      assert.deepEqual(st[0]!.problems, []);
    } finally {
      await a.stop();
    }
  });

  test('rotating the Secret ends the Redfish session and the IPMI session at once; an Event says so', async () => {
    const a = await startAgentProcess([
      '--vm',
      'default/vm1',
      '--bmc',
      'bmc1',
      '--auth-secret',
      'auth1',
      '--kubeconfig',
      c.sim.kubeconfigPath,
    ]);
    agents.push(a);
    // A session on each protocol, both working.
    const token = await curlSessionLogin(a.redfish, 'admin', FIRST);
    assert.equal(await curlSystemStatus(a.redfish, { token }), '200');
    const shell = new IpmiShell(a.ipmi, 'admin', FIRST);
    shells.push(shell);
    assert.match(await shell.command('power status'), /Chassis Power is off/, a.log());

    await c.kubectlOk(['apply', '-f', '-'], secretYaml('default', 'auth1', 'admin', SECOND));
    const [ended] = await waitFor(
      async () => {
        const e = await bmcEvents(c, 'default', 'bmc1', 'SessionsEnded');
        return e.length > 0 ? e : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'SessionsEnded Event' },
    );
    assert.equal(ended!.type, 'Normal');
    assert.equal(
      ended!.message,
      'credentials of "admin" changed: ended 1 Redfish session and 1 IPMI session opened with the previous ones',
    );
    // The sessions were ended when the Event was posted: no waiting, no retries.
    assert.equal(await curlSystemStatus(a.redfish, { token }), '401');
    assert.match(await shell.command('power status'), /Unable to get Chassis Power Status/);
    // The new password works on both; the old one on neither.
    const st = await ipmitool(a.ipmi, 'admin', SECOND, 'power', 'status');
    assert.equal(st.stdout.trim(), 'Chassis Power is off', st.stderr);
    assert.equal(await status(a.redfish, 'admin', SECOND), '200');
    assert.equal(await status(a.redfish, 'admin', FIRST), '401');
    assert.match(a.log(), /"users":\["admin"\].*ended 1 Redfish session and 1 IPMI session/);
    for (const pw of [FIRST, SECOND]) assert.ok(!a.log().includes(pw), 'passwords never reach the log');
  });

  test('the same Event again is counted on the one recorded, not recorded twice', async () => {
    const a = agents.at(-1)!;
    // Each BMC reset restarts the BMC's service: BMCReset, and the credentials loaded again.
    for (let i = 0; i < 2; i++) {
      const r = await ipmitool(a.ipmi, 'admin', SECOND, 'mc', 'reset', 'cold');
      assert.equal(r.code, 0, r.stderr);
      await waitFor(async () => (await bmcEvents(c, 'default', 'bmc1', 'BMCReset'))[0]?.count === i + 1, {
        timeoutMs: 30_000,
        intervalMs: 250,
        what: `BMC reset ${i + 1} recorded`,
      });
    }
    const resets = await bmcEvents(c, 'default', 'bmc1', 'BMCReset');
    assert.equal(resets.length, 1, 'one Event object for the two resets');
    assert.equal(resets[0]!.count, 2);
    assert.notEqual(resets[0]!.firstTimestamp, undefined);
    const loaded = await waitFor(
      async () => {
        const e = await bmcEvents(c, 'default', 'bmc1', 'CredentialsLoaded');
        // at start, after the rotation, after each reset
        return (e[0]?.count ?? 0) >= 4 && e;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'CredentialsLoaded counted' },
    );
    assert.equal(loaded.length, 1, 'CredentialsLoaded is one Event, counted');
    const st = await ipmitool(a.ipmi, 'admin', SECOND, 'power', 'status');
    assert.equal(st.stdout.trim(), 'Chassis Power is off', st.stderr);
  });

  test('a Secret over the IPMI limit: Redfish serves it, IPMI refuses it, the agent says so once', async () => {
    const a = agents.at(-1)!;
    await c.kubectlOk(['apply', '-f', '-'], secretYaml('default', 'auth1', 'admin', TOO_LONG));
    const [warning] = await waitFor(
      async () => {
        const e = await bmcEvents(c, 'default', 'bmc1', 'IPMICredentialsTooLong');
        return e.length > 0 ? e : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'IPMICredentialsTooLong Event' },
    );
    assert.equal(warning!.type, 'Warning');
    assert.equal(
      warning!.message,
      'Secret default/auth1: password is 21 bytes; IPMI allows at most 20: IPMI refuses this account, Redfish serves it',
    );
    assert.equal(await status(a.redfish, 'admin', TOO_LONG), '200');
    for (let i = 0; i < 3; i++)
      assert.notEqual((await ipmitool(a.ipmi, 'admin', TOO_LONG, 'power', 'status')).code, 0);
    const warned = a
      .log()
      .split('\n')
      .filter((l) => l.includes('IPMI refuses them until the Secret is fixed'));
    assert.equal(warned.length, 1, 'one warning, not one per login');
    assert.doesNotMatch(a.log(), /"reason":"unknown user name"/);
    const st = (await (await fetch(`${a.health}/status`)).json()) as Array<{ problems: string[] }>;
    assert.deepEqual(st[0]!.problems, [warning!.message]);
    assert.ok(!a.log().includes(TOO_LONG));
    await a.stop();
  });

  test('the controller: a Secret with a 21-byte password gives IPMICredentialsTooLong and a Warning Event', async () => {
    await c.kubectlOk(['delete', 'vmbmc', 'bmc1', '--wait=true']);
    await c.kubectlOk(['create', 'namespace', 'ctl']);
    await c.kubectlOk(
      ['apply', '-f', '-'],
      [
        vmYaml('ctl', 'vm2'),
        secretYaml('ctl', 'auth2', 'admin', TOO_LONG),
        bmcYaml('ctl', 'bmc2', 'vm2', 'auth2'),
      ].join('---\n'),
    );
    const controller = new BmcController({
      kubeConfig: c.kubeConfig(),
      placement: 'per-vm',
      agent: { image: 'ghcr.io/kubevirtbmc-project/kubevirtbmc:test' },
    });
    await controller.start();
    try {
      const cond = await c.waitCondition('ctl', 'bmc2', 'SecretAvailable', 'False');
      assert.equal(cond.reason, 'IPMICredentialsTooLong');
      assert.equal(
        cond.message,
        'Secret ctl/auth2: password is 21 bytes; IPMI allows at most 20: IPMI refuses every login to this BMC, Redfish serves the account; shorten it, or set spec.ipmi.enabled: false',
      );
      const ready = await c.condition('ctl', 'bmc2', 'Ready');
      assert.equal(ready?.status, 'False');
      assert.equal(ready?.reason, 'IPMICredentialsTooLong');
      const events = await waitFor(
        async () => {
          const e = (await bmcEvents(c, 'ctl', 'bmc2', 'IPMICredentialsTooLong')).filter(
            (x) => x.type === 'Warning',
          );
          return e.length > 0 ? e : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 250, what: 'a Warning Event from the controller' },
      );
      assert.ok(
        events.some((e) =>
          e.message.includes('Secret ctl/auth2: password is 21 bytes; IPMI allows at most 20'),
        ),
      );
      // Redfish serves the account, so the agent runs.
      const d = await c.getJson(['-n', 'ctl', 'deployment', 'vbmc-bmc2']);
      assert.equal(d.spec.replicas, 1);
      assert.match(await c.kubectlOk(['-n', 'ctl', 'describe', 'vmbmc', 'bmc2']), /IPMICredentialsTooLong/);
      // Fixed: the conditions clear.
      await c.kubectlOk(['apply', '-f', '-'], secretYaml('ctl', 'auth2', 'admin', 'p'.repeat(20)));
      const fixed = await c.waitCondition('ctl', 'bmc2', 'SecretAvailable', 'True');
      assert.equal(fixed.reason, 'SecretValid');
    } finally {
      await controller.stop();
    }
  });
});
