/**
 * End to end, as a person follows the README: `kubevirtbmc demo` runs as a child process; the test
 * waits for its table, runs every command it printed (and the ones docs/getting-started.md shows)
 * with the real ipmitool, curl and kubectl, boots one VM from virtual media with python3-sushy,
 * then presses Ctrl-C and checks that everything stopped and every port is free again. `npm start`
 * itself (the README's first command) is run too, and a busy port must give a clear message.
 * Finally: every command in the sh blocks of README.md and docs/getting-started.md was run here.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { parse } from 'yaml';
import { missingTools } from '../integration/controller/helpers.ts';
import { PtyClient } from '../interop/ipmi-sol/helpers.ts';
import { missingClients } from '../support/clients.ts';
import { realOnly } from '../support/cluster.ts';
import { waitFor } from '../support/wait.ts';
import {
  DemoProcess,
  docCommands,
  normalize,
  type Printed,
  REPO,
  type Row,
  type Run,
  ran,
  record,
  sh,
  tcpPortFree,
  udpPortFree,
} from './helpers.ts';

const skip = missingClients('ipmitool', 'kubectl', 'sushy') || missingTools('curl');
const SUSHY = fileURLToPath(new URL('./sushy_vmedia_boot.py', import.meta.url));

/** Runs a command as typed, records it for the docs check, and fails with its output if it failed. */
async function typed(command: string, env?: NodeJS.ProcessEnv, timeoutMs?: number): Promise<Run> {
  const r = await sh(command, env, timeoutMs);
  record(command);
  assert.equal(r.code, 0, `${command}\nexit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

function ipmitool(r: Row, args: string): string {
  const [host, port] = r.ipmi.split(':');
  return `ipmitool -I lanplus -H ${host} -p ${port} -U ${r.username} -P ${r.password} ${args}`;
}

function curlJson(r: Row, method: 'POST' | 'PATCH', path: string, body: string): string {
  return `curl -u ${r.username}:${r.password} -X ${method} -H 'Content-Type: application/json' -d '${body}' ${r.redfish}${path}`;
}

/**
 * The serial console of a VMI through the API (KubeVirt's websocket), as `virtctl console` reads it,
 * run again as soon as it ends or is refused (the VMI not running yet): KubeVirt replays nothing, so
 * a boot is seen only by a console attached when the VMI starts running. `text` collects every
 * connection's output.
 */
class ConsoleWatch {
  text = '';
  #ws: WebSocket | null = null;
  #stopped = false;
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly kubeconfig: string,
    private readonly vmi: string,
  ) {
    this.#connect();
  }

  #connect(): void {
    if (this.#stopped) return;
    // biome-ignore lint/suspicious/noExplicitAny: kubeconfig YAML
    const kc = parse(readFileSync(this.kubeconfig, 'utf8')) as any;
    const server: string = kc.clusters[0].cluster.server;
    const ca = Buffer.from(kc.clusters[0].cluster['certificate-authority-data'], 'base64');
    const token: string = kc.users[0].user.token;
    const ws = new WebSocket(
      `${server.replace(/^http/, 'ws')}/apis/subresources.kubevirt.io/v1/namespaces/default/virtualmachineinstances/${this.vmi}/console`,
      'plain.kubevirt.io',
      { headers: { Authorization: `Bearer ${token}` }, ca },
    );
    this.#ws = ws;
    const again = () => {
      if (this.#ws !== ws || this.#stopped) return;
      this.#ws = null;
      this.#timer = setTimeout(() => this.#connect(), 100);
    };
    ws.on('message', (d: Buffer) => {
      this.text += d.toString('utf8');
    });
    ws.on('error', again);
    ws.on('close', again);
    ws.on('unexpected-response', (_req, res) => {
      res.resume();
      ws.terminate();
      again();
    });
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#ws?.terminate();
  }
}

async function kubectlJson(
  p: Printed,
  args: string,
): Promise<
  // biome-ignore lint/suspicious/noExplicitAny: kubectl JSON
  any
> {
  const r = await sh(`kubectl --kubeconfig ${p.kubeconfig} ${args} -o json`);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

async function stopsCleanly(demo: DemoProcess, p: Printed): Promise<void> {
  demo.interrupt();
  const exit = await Promise.race([demo.exited, new Promise<null>((r) => setTimeout(() => r(null), 60_000))]);
  assert.ok(exit, `the demo did not exit within 60 s of Ctrl-C:\n${demo.stdout.slice(-2000)}`);
  await waitFor(() => !demo.groupAlive(), { timeoutMs: 60_000, intervalMs: 100, what: 'no process left' });
  // Run directly or by `npm start` (whose script execs node, so no shell dies of the SIGINT and npm
  // passes the demo's status on), a Ctrl-C of the running demo ends with status 0.
  assert.deepEqual(exit, { code: 0, signal: null }, `exit after Ctrl-C\n${demo.stderr.slice(-2000)}`);
  // npm forwards the terminal's SIGINT to the demo, which gets it twice: that is one Ctrl-C.
  assert.doesNotMatch(demo.stderr, /again; still stopping/);
  assert.match(demo.stdout, /kubevirtbmc demo: stopped; every process ended and every port is free/);
  assert.ok(await tcpPortFree(p.apiPort), `API port ${p.apiPort} free`);
  for (const r of p.rows) {
    assert.ok(await udpPortFree(Number(r.ipmi.split(':')[1])), `IPMI port of ${r.vm} free`);
    assert.ok(await tcpPortFree(Number(new URL(r.redfish).port)), `Redfish port of ${r.vm} free`);
  }
}

describe('kubevirtbmc demo, driven with the commands it prints', { skip, timeout: 900_000 }, () => {
  let demo: DemoProcess;
  let p: Printed;
  let installer: Row;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    // bin/kubevirtbmc.js (and so every agent the demo's kubelet starts) runs dist/ when it exists:
    // build it first when src/ is newer, as `npm start` does, so the test never runs stale code.
    const built = await sh('node scripts/start.mjs --help', process.env, 120_000);
    assert.equal(built.code, 0, built.stderr);
    demo = new DemoProcess(process.execPath, ['bin/kubevirtbmc.js', 'demo', '--api-port', '0']);
    p = await demo.ready();
    installer = p.rows.find((r) => r.vm === 'installer')!;
    env = { ...process.env, KUBECONFIG: p.kubeconfig };
  });
  after(() => demo?.kill());

  test('shows progress, then a table of three VMs with their BMC endpoints and credentials', async () => {
    assert.match(demo.stdout, /BMCs Ready 0\/3/, 'progress before the BMCs were ready');
    assert.match(demo.stdout, /BMCs Ready 3\/3/);
    assert.match(demo.stdout, /deployment\.apps\/kubevirtbmc-controller applied/);
    assert.deepEqual(
      p.rows.map((r) => [r.vm, r.runStrategy, r.power]),
      [
        ['web', 'Always', 'On'],
        ['worker', 'RerunOnFailure', 'On'],
        ['installer', 'Halted', 'Off'],
      ],
    );
    const ports = p.rows.flatMap((r) => [r.ipmi, r.redfish]);
    assert.equal(new Set(ports).size, 6, 'every endpoint distinct');
    // What the table says is what the cluster says.
    const list = await kubectlJson(p, 'get vmbmc');
    for (const r of p.rows) {
      const b = list.items.find((i: { metadata: { name: string } }) => i.metadata.name === `${r.vm}-bmc`);
      assert.equal(b.status.endpoints.ipmi, r.ipmi);
      assert.equal(b.status.endpoints.redfish, r.redfish);
      assert.equal(r.username, 'admin');
      assert.match(r.password, /^[A-Za-z0-9]{12}$/);
    }
    assert.equal(p.commands.ipmitool, ipmitool(installer, 'power on'));
    // FreeIPMI (ipmiconsole) cannot reach a port above 32767.
    for (const r of p.rows)
      assert.ok(Number(r.ipmi.split(':')[1]) <= 32767, `IPMI port of ${r.vm}: ${r.ipmi}`);
    assert.equal(
      p.commands.ipmiconsole,
      `ipmiconsole -h ${installer.ipmi} -u ${installer.username} -p ${installer.password}`,
    );
  });

  test('the printed ipmitool command powers the installer VM on', async () => {
    const on = await typed(p.commands.ipmitool);
    assert.equal(on.stdout.trim(), 'Chassis Power Control: Up/On');
    await waitFor(
      async () => (await kubectlJson(p, 'get vm installer')).status?.printableStatus === 'Running',
      { timeoutMs: 60_000, intervalMs: 500, what: 'installer Running' },
    );
    const st = await typed(ipmitool(installer, 'power status'));
    assert.equal(st.stdout.trim(), 'Chassis Power is on');
  });

  test('the printed ipmiconsole command shows the running installer VM; &. leaves', {
    skip: missingClients('ipmiconsole'),
  }, async () => {
    const [cmd, ...args] = p.commands.ipmiconsole.split(' ');
    const c = new PtyClient(cmd!, args, 60_000);
    try {
      await c.waitFor('[SOL established]', 20_000);
      await waitFor(
        () => {
          if (/installer login: /.test(c.output)) return true;
          c.type('\r');
          return false;
        },
        {
          timeoutMs: 30_000,
          intervalMs: 500,
          what: `login prompt on ipmiconsole; output: ${JSON.stringify(c.output)}`,
        },
      );
      c.type('\r&.');
      assert.equal(await c.exit(), 0, c.output);
      record(p.commands.ipmiconsole);
    } finally {
      c.kill();
    }
  });

  test('ipmitool power cycle gives the VM a new guest', async () => {
    const uid = (await kubectlJson(p, 'get vmi installer')).metadata.uid;
    const r = await typed(ipmitool(installer, 'power cycle'));
    assert.equal(r.stdout.trim(), 'Chassis Power Control: Cycle');
    await waitFor(
      async () => {
        const vmi = await kubectlJson(p, 'get vmi installer').catch(() => null);
        return vmi && vmi.metadata.uid !== uid && vmi.status?.phase === 'Running';
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'a new running guest' },
    );
  });

  test('ipmitool chassis bootdev pxe sets a one-time PXE boot, which Redfish reports', async () => {
    const r = await typed(ipmitool(installer, 'chassis bootdev pxe'));
    assert.equal(r.stdout.trim(), 'Set Boot Device to pxe');
    const sys = JSON.parse(
      (await sh(`curl -s -u admin:${installer.password} ${installer.redfish}/redfish/v1/Systems/1`)).stdout,
    );
    assert.equal(sys.Boot.BootSourceOverrideTarget, 'Pxe');
    assert.equal(sys.Boot.BootSourceOverrideEnabled, 'Once');
  });

  test('the printed curl command reads the Redfish system of that VM', async () => {
    const r = await typed(p.commands.curl);
    const sys = JSON.parse(r.stdout);
    assert.equal(sys.Id, '1');
    assert.equal(sys.Name, 'installer');
    assert.equal(sys.PowerState, 'On');
    const bad = await sh(
      `curl -s -o /dev/null -w '%{http_code}' -u admin:wrong ${installer.redfish}/redfish/v1/Systems/1`,
    );
    assert.equal(bad.stdout, '401');
  });

  test('the printed kubectl command lists the VMs and their Ready BMCs', async () => {
    const r = await typed(p.commands.kubectl);
    for (const vm of ['web', 'worker', 'installer']) {
      assert.match(r.stdout, new RegExp(`^virtualmachine\\.kubevirt\\.io/${vm}\\s`, 'm'));
      assert.match(
        r.stdout,
        new RegExp(
          `^virtualmachinebmc\\.bmc\\.kubevirt\\.io/${vm}-bmc\\s+${vm}\\s+True\\s+127\\.0\\.0\\.1:\\d+`,
          'm',
        ),
      );
    }
  });

  test('python3-sushy boots the installer VM from virtual media (off, insert, boot Cd once, on)', async () => {
    const image = 'http://images.example.com/sushy-install.iso';
    const watch = new ConsoleWatch(p.kubeconfig, 'installer');
    const r = await sh(
      `/usr/bin/python3 ${SUSHY} ${installer.redfish} ${installer.username} ${installer.password} ${image}`,
      process.env,
      120_000,
    );
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.image, image);
    assert.equal(out.boot_target, 'Cd');
    assert.equal(out.boot_enabled, 'Once');
    const booted = await waitFor(() => watch.text.includes(`Booting from CD-ROM 'cdrom' (image ${image})`), {
      timeoutMs: 120_000,
      intervalMs: 200,
      what: 'the guest booting from the CD-ROM',
    }).finally(() => watch.stop());
    assert.ok(booted);
    // The VM now has the image in its CD-ROM; the user's disk is still there.
    const vm = await kubectlJson(p, 'get vm installer');
    const vols = vm.spec.template.spec.volumes.map((v: { name: string }) => v.name).sort();
    assert.deepEqual(vols, ['cdrom', 'rootdisk']);
  });

  test('docs/getting-started.md: virtual media with curl (off, eject, insert, boot once from Cd, on)', async () => {
    const image = 'http://images.example.com/fedora-netinst.iso';
    const cd = '/redfish/v1/Managers/BMC/VirtualMedia/Cd';
    const reset = '/redfish/v1/Systems/1/Actions/ComputerSystem.Reset';
    await typed(curlJson(installer, 'POST', reset, '{"ResetType":"ForceOff"}'));
    await waitFor(
      async () => (await kubectlJson(p, 'get vm installer')).status?.printableStatus === 'Stopped',
      { timeoutMs: 60_000, intervalMs: 500, what: 'installer Stopped' },
    );
    await typed(curlJson(installer, 'POST', `${cd}/Actions/VirtualMedia.EjectMedia`, '{}'));
    await typed(
      curlJson(
        installer,
        'POST',
        `${cd}/Actions/VirtualMedia.InsertMedia`,
        `{"Image":"${image}","Inserted":true}`,
      ),
    );
    const slot = JSON.parse(
      (await typed(`curl -u ${installer.username}:${installer.password} ${installer.redfish}${cd}`)).stdout,
    );
    assert.equal(slot.Image, image);
    assert.equal(slot.Inserted, true);
    await typed(
      curlJson(
        installer,
        'PATCH',
        '/redfish/v1/Systems/1',
        '{"Boot":{"BootSourceOverrideTarget":"Cd","BootSourceOverrideEnabled":"Once"}}',
      ),
    );
    const watch = new ConsoleWatch(p.kubeconfig, 'installer');
    await typed(curlJson(installer, 'POST', reset, '{"ResetType":"On"}'));
    await waitFor(() => watch.text.includes(`Booting from CD-ROM 'cdrom' (image ${image})`), {
      timeoutMs: 120_000,
      intervalMs: 200,
      what: 'the guest booting from the new image',
    }).finally(() => watch.stop());
    const dvs = await typed(`kubectl --kubeconfig ${p.kubeconfig} get datavolumes`);
    assert.match(dvs.stdout, /installer-vmedia-cd-\S+\s+Succeeded/);
  });

  test('docs/getting-started.md: looking around with kubectl', async () => {
    await typed(`export KUBECONFIG=${p.kubeconfig}`);
    const all = await typed('kubectl get vm,vmi,vmbmc', env);
    assert.match(all.stdout, /virtualmachineinstance\.kubevirt\.io\/web/);
    const desc = await typed('kubectl describe vmbmc installer-bmc', env);
    assert.match(desc.stdout, /PowerAction/, 'the audit Events of the ipmitool actions');
    const pods = await typed('kubectl get pods -A', env);
    assert.match(pods.stdout, /kubevirtbmc-system\s+kubevirtbmc-controller-\S+\s+1\/1\s+Running/);
    assert.match(pods.stdout, /default\s+kubevirtbmc-agent-\S+\s+1\/1\s+Running/);
    const logs = await typed('kubectl logs deploy/kubevirtbmc-agent', env);
    assert.match(logs.stdout + logs.stderr, /serving/);
  });

  test('docs/getting-started.md: the install steps for a real cluster work on the demo cluster too', async () => {
    const apply = await typed('kubectl apply -k deploy/', env);
    assert.match(
      apply.stdout,
      /deployment\.apps\/kubevirtbmc-controller (configured|unchanged)/,
      'already installed by the demo',
    );
    await typed(
      'kubectl -n kubevirtbmc-system rollout status deployment/kubevirtbmc-controller --timeout=2m',
      env,
      130_000,
    );
    await typed('kubectl apply -k deploy/samples/', env);
    const w = await typed(
      'kubectl wait --for=condition=Ready vmbmc/sample-vm-bmc --timeout=2m',
      env,
      130_000,
    );
    assert.match(w.stdout, /condition met/);
    // Right after Ready, the address a user can reach (the host ports the demo cluster publishes),
    // never the Service's unreachable ClusterIP.
    const g = await typed('kubectl get vmbmc sample-vm-bmc', env);
    assert.match(g.stdout, /sample-vm-bmc\s+sample-vm\s+True\s+127\.0\.0\.1:\d+\s+http:\/\/127\.0\.0\.1:\d+/);
  });

  test('Ctrl-C stops it cleanly: exit status 0, no process left, every port free', async () => {
    await stopsCleanly(demo, p);
  });
});

describe('npm start, exactly as the README says', { skip, timeout: 600_000 }, () => {
  let demo: DemoProcess;
  after(() => demo?.kill());

  test('npm start shows the table; its commands work; Ctrl-C ends it cleanly', async (t) => {
    if (!(await tcpPortFree(16443))) {
      if (process.env.CI === 'true') assert.fail('port 16443 (the demo default) is busy on the CI machine');
      t.skip('port 16443, the demo default, is in use on this machine (another demo?)');
      return;
    }
    demo = new DemoProcess('npm', ['start']);
    const p = await demo.ready();
    record('npm start');
    assert.equal(p.apiPort, 16443);
    assert.equal(p.rows.length, 3);
    const on = await typed(p.commands.ipmitool);
    assert.equal(on.stdout.trim(), 'Chassis Power Control: Up/On');
    assert.equal(JSON.parse((await typed(p.commands.curl)).stdout).Id, '1');
    assert.match((await typed(p.commands.kubectl)).stdout, /installer-bmc\s+installer\s+True/);
    await stopsCleanly(demo, p);
  });
});

describe('a busy port', { timeout: 120_000 }, () => {
  let blocker: Server;
  before(async () => {
    blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  });
  after(() => new Promise<void>((r) => blocker.close(() => r())));

  test('is reported with the flag that changes it, and nothing is left running', async () => {
    const port = (blocker.address() as { port: number }).port;
    const demo = new DemoProcess(process.execPath, [
      'bin/kubevirtbmc.js',
      'demo',
      '--api-port',
      String(port),
    ]);
    const exit = await demo.exited;
    assert.equal(exit.code, 1);
    assert.match(
      demo.stderr,
      new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use .*kubevirtbmc demo --api-port <port>`),
    );
    assert.ok(!demo.groupAlive());
  });
});

describe('npm start, as its user sees Ctrl-C and a busy port', { timeout: 300_000 }, () => {
  test('Ctrl-C of the running demo: npm ends with status 0, as the docs say', async () => {
    const demo = new DemoProcess('npm', ['start', '--', '--api-port', '0', '--timing', 'fast']);
    try {
      const p = await demo.ready();
      await stopsCleanly(demo, p);
    } finally {
      demo.kill();
    }
  });

  test('a busy port: the message says how to pick another with npm start', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (blocker.address() as { port: number }).port;
      const demo = new DemoProcess('npm', ['start', '--', '--api-port', String(port)]);
      const exit = await demo.exited;
      assert.equal(exit.code, 1, demo.stderr);
      assert.match(
        demo.stderr,
        new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use .*npm start -- --api-port <port>`),
      );
      assert.doesNotMatch(demo.stderr, /kubevirtbmc demo --api-port/);
      assert.ok(!demo.groupAlive());
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });
});

describe('Ctrl-C while it is still starting', { timeout: 180_000 }, () => {
  test('stops everything it started and exits with status 130', async () => {
    const demo = new DemoProcess(process.execPath, ['bin/kubevirtbmc.js', 'demo', '--api-port', '0']);
    try {
      await waitFor(() => demo.stdout.includes('waiting for the controller'), {
        timeoutMs: 120_000,
        intervalMs: 50,
        what: 'the demo to start waiting for its BMCs',
      });
      demo.interrupt();
      const exit = await demo.exited;
      assert.equal(exit.code, 130, demo.stderr);
      assert.match(demo.stdout, /kubevirtbmc demo: stopped; every process ended and every port is free/);
      assert.doesNotMatch(demo.stdout, /Press Ctrl-C/);
      await waitFor(() => !demo.groupAlive(), {
        timeoutMs: 30_000,
        intervalMs: 100,
        what: 'no process left',
      });
      const port = Number(/cluster up: https:\/\/127\.0\.0\.1:(\d+)/.exec(demo.stdout)?.[1]);
      assert.ok(await tcpPortFree(port), `API port ${port} free`);
    } finally {
      demo.kill();
    }
  });
});

/** The control plane's processes started from this demo's temporary directories. */
function controlPlaneProcesses(dir: string): string[] {
  try {
    return execFileSync('pgrep', ['-fa', dir], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

describe('npm start -- --control-plane real, as the README says', {
  skip: skip || realOnly().skip,
  timeout: 400_000,
}, () => {
  let demo: DemoProcess | undefined;
  let printed: Printed;
  after(() => demo?.kill());

  test('the demo comes up on the real control plane and prints its table', async () => {
    demo = new DemoProcess('npm', ['start', '--', '--control-plane', 'real', '--api-port', '0']);
    record('npm start -- --control-plane real');
    printed = await demo.ready(300_000);
    assert.match(demo.stdout, /starting the real Kubernetes control plane/);
    assert.match(demo.stdout, /control plane up in \d+\.\d s/);
    assert.equal(printed.rows.length, 3, demo.stdout);
  });

  test('kubectl reads the real API server: v1.37, the VMs, their BMCs Ready', async () => {
    const version = await sh(`kubectl --kubeconfig ${printed.kubeconfig} version -o json`);
    assert.equal(version.code, 0, version.stderr);
    assert.match(JSON.parse(version.stdout).serverVersion.gitVersion, /^v1\.37\./);
    const r = await sh(printed.commands.kubectl);
    assert.equal(r.code, 0, r.stderr);
    for (const row of printed.rows) assert.match(r.stdout, new RegExp(`${row.vm}-bmc\\s+${row.vm}\\s+True`));
    // the agent pod really runs on the fake node, scheduled by the real scheduler
    const pods = await sh(`kubectl --kubeconfig ${printed.kubeconfig} get pods -A -o wide`);
    assert.match(pods.stdout, /kubevirtbmc-agent-\S+\s+1\/1\s+Running.*fake-node-1/);
  });

  test('the printed ipmitool and curl commands reach the BMCs', async () => {
    const row = printed.rows[0]!;
    const [host, port] = row.ipmi.split(':');
    const ipmi = await sh(
      `ipmitool -I lanplus -C 17 -H ${host} -p ${port} -U ${row.username} -P ${row.password} power status`,
    );
    assert.equal(ipmi.code, 0, ipmi.stderr);
    assert.match(ipmi.stdout, /^Chassis Power is (on|off)$/m);
    const curl = await sh(`curl -sS -u ${row.username}:${row.password} ${row.redfish}/redfish/v1/Systems/1`);
    assert.equal(curl.code, 0, curl.stderr);
    assert.match(JSON.parse(curl.stdout).PowerState, /^(On|Off)$/);
  });

  test('Ctrl-C stops the demo and every control-plane process', async () => {
    const dir = /--kubeconfig (\/tmp\/kubevirtbmc-cp-[^/]+)\//.exec(demo!.stdout)?.[1];
    assert.ok(dir, "the printed kubeconfig lives in the control plane's directory");
    await stopsCleanly(demo!, printed);
    await waitFor(() => controlPlaneProcesses(dir).length === 0, {
      timeoutMs: 20_000,
      what: 'no control-plane process left',
    });
  });
});

describe('the docs', { skip }, () => {
  test('every command in the sh blocks of README.md and docs/getting-started.md was run by a test', () => {
    // `npm ci`, `npm test` and the development commands are what .ci/run runs.
    const ci = readFileSync(`${REPO}.ci/run`, 'utf8');
    for (const c of [
      'npm ci',
      'npm run control-plane',
      'npm run lint',
      'npm run typecheck',
      'npm run build',
      'npm test',
    ])
      if (new RegExp(`^${c.replace(/ /g, ' ')}\\b`, 'm').test(ci)) ran.add(normalize(c));
    const missing: string[] = [];
    let count = 0;
    for (const file of ['README.md', 'docs/getting-started.md']) {
      for (const c of docCommands(file)) {
        // the real-control-plane demo runs above whenever it is built (always in CI)
        if (realOnly().skip && /--control-plane real/.test(c)) continue;
        count++;
        if (!ran.has(normalize(c))) missing.push(`${file}: ${c}\n    (as ${normalize(c)})`);
      }
    }
    assert.ok(count >= 10, `found ${count} commands in the docs`);
    assert.deepEqual(
      missing,
      [],
      `documented but never run:\n${missing.join('\n')}\nran:\n${[...ran].join('\n')}`,
    );
  });
});
