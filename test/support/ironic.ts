/**
 * OpenStack Ironic (Debian's `ironic-api` and `ironic-conductor`, 21.4 on bookworm) run standalone
 * for a test, with the BMCs it drives, inside one network namespace where only loopback exists, so
 * nothing Ironic does (or any BMC it is pointed at) can reach outside the machine.
 *
 * In the namespace `kvbmc-ironic-<pid>`: `kubevirtbmc demo` (its cluster, controller, agents and
 * three sample VMs), then `ironic-dbsync create_schema`, `ironic-api` and `ironic-conductor` with a
 * configuration written to a fresh temporary directory (sqlite, `auth_strategy = noauth`,
 * `rpc_transport = json-rpc` on 127.0.0.1, hardware type `redfish` with `redfish` inspection). The
 * test talks to Ironic's REST API and to the cluster from inside the namespace too (curl and
 * kubectl under `ip netns exec`). `stop()` ends every process left in the namespace, deletes it and
 * the directory; each step is bounded in time.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePrinted, type Row } from '../e2e/helpers.ts';
import { hasClient } from './clients.ts';
import { clusterKind } from './cluster.ts';
import { ipCommand } from './dmtf-validators.ts';
import { runCommand } from './run.ts';

const REPO = join(import.meta.dirname, '..', '..');
const BINARIES = ['/usr/bin/ironic-api', '/usr/bin/ironic-conductor', '/usr/bin/ironic-dbsync'] as const;
/** Ironic's REST API and the conductor's JSON-RPC, inside the namespace (nothing else can bind there). */
export const IRONIC_API_PORT = 6385;
const JSON_RPC_PORT = 8089;
/** The microversion the requests ask for (21.4 supports up to 1.81). */
const MICROVERSION = '1.78';

/**
 * `false` when Ironic, curl, kubectl and network namespaces are available; otherwise a skip message,
 * or a throw under CI=true (`.ci/run` installs `ironic-api` and `ironic-conductor`).
 */
export function missingIronic(): string | false {
  const problems: string[] = [];
  for (const b of BINARIES)
    if (!existsSync(b)) problems.push(`${b} missing (apt-get install ironic-api ironic-conductor)`);
  if (spawnSync('curl', ['--version'], { stdio: 'ignore', timeout: 15_000 }).status !== 0)
    problems.push('curl missing (apt-get install curl)');
  if (!hasClient('kubectl')) problems.push('kubectl missing');
  const [cmd, args] = ipCommand(['netns', 'list']);
  if (spawnSync(cmd, args, { stdio: 'ignore', timeout: 15_000 }).status !== 0)
    problems.push('network namespaces need `ip` (iproute2) and root or `sudo -n`');
  if (problems.length === 0) return false;
  const message = `MISSING IRONIC: ${problems.join('; ')} (run .ci/run, or see docs/testing.md)`;
  if (process.env.CI === 'true') throw new Error(`${message} (CI=true: a missing client is a failure)`);
  console.error(`\n*** SKIPPING: ${message} ***\n`);
  return message;
}

/**
 * Ironic's configuration for a standalone conductor and API that share `dir` (database, locks,
 * logs, state). Only what inspection over Redfish needs is enabled; the rest is the no-op
 * implementation. The periodic power-state sync is off: with it, the conductor may force a VM back
 * to the power state in its database while the test is changing it.
 */
export function ironicConfig(dir: string): string {
  return `[DEFAULT]
auth_strategy = noauth
rpc_transport = json-rpc
host = localhost
state_path = ${dir}
tempdir = ${dir}/tmp
log_dir = ${dir}/log
enabled_hardware_types = redfish
enabled_power_interfaces = redfish
enabled_management_interfaces = redfish
enabled_inspect_interfaces = redfish
enabled_boot_interfaces = redfish-virtual-media
enabled_deploy_interfaces = direct
enabled_bios_interfaces = no-bios
enabled_console_interfaces = no-console
enabled_raid_interfaces = no-raid
enabled_vendor_interfaces = no-vendor
enabled_network_interfaces = noop
default_network_interface = noop

[api]
host_ip = 127.0.0.1
port = ${IRONIC_API_PORT}
api_workers = 1

[json_rpc]
auth_strategy = noauth
host_ip = 127.0.0.1
port = ${JSON_RPC_PORT}

[database]
connection = sqlite:///${dir}/ironic.sqlite

[conductor]
automated_clean = false
sync_power_state_interval = 0

[dhcp]
dhcp_provider = none

[oslo_concurrency]
lock_path = ${dir}/lock
`;
}

export interface IronicReply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: Ironic's JSON
  body: any;
}

/** A process started in the namespace: its output, kept for error messages, and its exit. */
class NsProcess {
  out = '';
  exitCode: number | null | undefined;
  readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const keep = (d: Buffer) => {
      this.out = (this.out + d).slice(-200_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        this.exitCode = code;
        resolve();
      }),
    );
  }

  /** Sends `signal`, then SIGKILL after `graceMs`; resolves once it exited. */
  async stop(signal: NodeJS.Signals, graceMs: number): Promise<void> {
    if (this.exitCode !== undefined) return;
    this.child.kill(signal);
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class IronicStack {
  readonly netns = `kvbmc-ironic-${process.pid}`;
  /** The run's directory (configuration, database, logs, the demo's kubeconfig), made by start(). */
  dir = '';
  kubeconfig = '';
  /** The demo's table: each VM's Redfish URL and credentials, valid inside the namespace. */
  rows: Row[] = [];
  #procs: NsProcess[] = [];
  #demo: NsProcess | null = null;
  #netnsMade = false;

  /** argv (as root) that runs `args` in the namespace, with this process's PATH and HOME. */
  #inNs(args: readonly string[]): [string, string[]] {
    return ipCommand([
      'netns',
      'exec',
      this.netns,
      'env',
      `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`,
      `HOME=${process.env.HOME ?? '/root'}`,
      ...args,
    ]);
  }

  #ip(args: string[], check = true): void {
    const [cmd, argv] = ipCommand(args);
    const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 15_000 });
    if (check && r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  }

  #spawn(name: string, args: readonly string[]): NsProcess {
    const [cmd, argv] = this.#inNs(args);
    const p = new NsProcess(name, spawn(cmd, argv, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] }));
    this.#procs.push(p);
    return p;
  }

  /** Runs a command in the namespace to completion (bounded). */
  run(args: readonly string[], timeoutMs = 60_000) {
    const [cmd, argv] = this.#inNs(args);
    return runCommand(cmd, argv, { cwd: REPO, timeoutMs });
  }

  /** Everything up: the namespace, the demo with its BMCs Ready, Ironic's API answering with the `redfish` driver. */
  async start(): Promise<void> {
    this.#ip(['netns', 'del', this.netns], false); // a leftover of a killed run with this pid
    this.#ip(['netns', 'add', this.netns]);
    this.#netnsMade = true;
    this.#ip(['netns', 'exec', this.netns, 'ip', 'link', 'set', 'lo', 'up']);
    this.dir = mkdtempSync(join(tmpdir(), 'kvbmc-ironic-'));
    this.kubeconfig = join(this.dir, 'kubeconfig');
    for (const d of ['log', 'lock', 'tmp']) mkdirSync(join(this.dir, d));
    const conf = join(this.dir, 'ironic.conf');
    writeFileSync(conf, ironicConfig(this.dir));

    // The demo first (it takes longest); the schema meanwhile.
    this.#demo = this.#spawn('demo', [
      process.execPath,
      join(REPO, 'bin', 'kubevirtbmc.js'),
      'demo',
      '--api-port',
      '0',
      '--timing',
      'fast',
      '--control-plane',
      clusterKind(),
      '--kubeconfig',
      this.kubeconfig,
    ]);
    const schema = await this.run(['ironic-dbsync', '--config-file', conf, 'create_schema'], 120_000);
    if (schema.code !== 0)
      throw new Error(`ironic-dbsync create_schema: exit ${schema.code}\n${schema.stderr}`);
    const api = this.#spawn('ironic-api', ['ironic-api', '--config-file', conf]);
    const conductor = this.#spawn('ironic-conductor', ['ironic-conductor', '--config-file', conf]);

    await this.#until('the demo printed its table', 240_000, [this.#demo, api, conductor], async () =>
      this.#demo!.out.includes('Press Ctrl-C'),
    );
    this.rows = parsePrinted(this.#demo.out).rows;
    // Ready once the conductor has registered the hardware type with the API's database.
    await this.#until('Ironic lists the redfish driver', 120_000, [api, conductor], async () => {
      const r = await this.api('GET', '/v1/drivers').catch(() => null);
      return !!r && r.status === 200 && r.body.drivers.some((d: { name: string }) => d.name === 'redfish');
    });
  }

  /** Polls `ok` every 500 ms until it holds; fails early when one of `watch` exits, and at the deadline. */
  async #until(
    what: string,
    timeoutMs: number,
    watch: NsProcess[],
    ok: () => Promise<boolean>,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await ok()) return;
      const dead = watch.find((p) => p.exitCode !== undefined);
      if (dead) throw new Error(`${what}: ${dead.name} exited (${dead.exitCode})\n${this.diagnostics()}`);
      if (Date.now() > deadline)
        throw new Error(`${what}: not within ${timeoutMs / 1000} s\n${this.diagnostics()}`);
      await sleep(500);
    }
  }

  /** One request to Ironic's REST API, made with curl inside the namespace. */
  async api(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    body?: unknown,
  ): Promise<IronicReply> {
    const args = [
      'curl',
      '-sS',
      '--max-time',
      '30',
      '-X',
      method,
      '-H',
      `X-OpenStack-Ironic-API-Version: ${MICROVERSION}`,
      '-w',
      '\n%{http_code}',
    ];
    if (body !== undefined)
      args.push('-H', 'Content-Type: application/json', '--data-binary', JSON.stringify(body));
    args.push(`http://127.0.0.1:${IRONIC_API_PORT}${path}`);
    const r = await this.run(args, 45_000);
    if (r.code !== 0) throw new Error(`curl ${method} ${path}: exit ${r.code} ${r.stderr}`);
    const nl = r.stdout.lastIndexOf('\n');
    const text = r.stdout.slice(0, nl);
    return { status: Number(r.stdout.slice(nl + 1)), body: text ? JSON.parse(text) : null };
  }

  /** `kubectl get … -o json` against the demo's cluster. */
  // biome-ignore lint/suspicious/noExplicitAny: Kubernetes JSON
  async kubectl(...args: string[]): Promise<any> {
    const r = await this.run(['kubectl', '--kubeconfig', this.kubeconfig, ...args, '-o', 'json']);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: exit ${r.code} ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  /** `kubectl …` (not JSON): exit code and output. */
  kubectlRaw(...args: string[]) {
    return this.run(['kubectl', '--kubeconfig', this.kubeconfig, ...args]);
  }

  /** The tails of each process's output and Ironic's logs, for a failure message. */
  diagnostics(): string {
    const parts = this.#procs.map(
      (p) => `--- ${p.name} (exit ${p.exitCode ?? 'running'}):\n${p.out.slice(-3000)}`,
    );
    const logs = join(this.dir, 'log');
    if (this.dir && existsSync(logs))
      for (const f of readdirSync(logs)) {
        const text = readFileSync(join(logs, f), 'utf8');
        parts.push(`--- ${f}:\n${text.slice(-4000)}`);
      }
    return parts.join('\n');
  }

  /**
   * Ends everything: Ironic (SIGTERM), the demo (SIGINT, as Ctrl-C: it stops its agents and
   * cluster), then SIGKILL to any process still in the namespace (all of them were started here),
   * deletes the namespace and the directory. Never throws.
   */
  async stop(): Promise<void> {
    const demo = this.#demo;
    await Promise.all(this.#procs.filter((p) => p !== demo).map((p) => p.stop('SIGTERM', 10_000)));
    await demo?.stop('SIGINT', 30_000);
    if (this.#netnsMade) {
      const [cmd, argv] = ipCommand(['netns', 'pids', this.netns]);
      const left = (spawnSync(cmd, argv, { encoding: 'utf8', timeout: 15_000 }).stdout ?? '')
        .split(/\s+/)
        .filter(Boolean);
      if (left.length) {
        const [kcmd, kargv] = ipCommand(['netns', 'exec', this.netns, 'kill', '-KILL', ...left]);
        spawnSync(kcmd, kargv, { stdio: 'ignore', timeout: 15_000 });
      }
      // Files Ironic made as root (under sudo) are removed as root too.
      if (this.dir) {
        const [rcmd, rargv] = ipCommand(['netns', 'exec', this.netns, 'rm', '-rf', this.dir]);
        spawnSync(rcmd, rargv, { stdio: 'ignore', timeout: 15_000 });
      }
      this.#ip(['netns', 'del', this.netns], false);
      this.#netnsMade = false;
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
