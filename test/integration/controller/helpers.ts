import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { type TestCluster as AnyCluster, startCluster } from '../../support/cluster.ts';
import { type RunOptions, type RunResult, runCommand } from '../../support/run.ts';
import { waitFor } from '../../support/wait.ts';

export const REPO = new URL('../../../', import.meta.url).pathname;

export type Run = RunResult;

/** Runs a command (from the repository by default) without blocking the event loop. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<Run> {
  return runCommand(cmd, args, { ...opts, cwd: opts.cwd ?? REPO });
}

export class TestCluster {
  readonly sim: AnyCluster;
  readonly #cache = mkdtempSync(join(tmpdir(), 'kubectl-cache-'));

  constructor(sim: AnyCluster) {
    this.sim = sim;
  }

  static async start(): Promise<TestCluster> {
    return new TestCluster(await startCluster({ timing: 'fast' }));
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.sim.kubeconfigPath);
    return kc;
  }

  /** The real kubectl, as a user types it. */
  kubectl(args: string[], input?: string, timeoutMs = 60_000): Promise<Run> {
    return run('kubectl', ['--kubeconfig', this.sim.kubeconfigPath, '--cache-dir', this.#cache, ...args], {
      input,
      timeoutMs,
    });
  }

  async kubectlOk(args: string[], input?: string, timeoutMs?: number): Promise<string> {
    const r = await this.kubectl(args, input, timeoutMs);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  // biome-ignore lint/suspicious/noExplicitAny: JSON from kubectl
  async getJson(args: string[]): Promise<any> {
    return JSON.parse(await this.kubectlOk(['get', ...args, '-o', 'json']));
  }

  // biome-ignore lint/suspicious/noExplicitAny: JSON from kubectl
  async tryGet(args: string[]): Promise<any | null> {
    const r = await this.kubectl(['get', ...args, '-o', 'json']);
    return r.code === 0 ? JSON.parse(r.stdout) : null;
  }

  async condition(
    ns: string,
    bmc: string,
    type: string,
  ): Promise<{ status: string; reason: string; message: string } | undefined> {
    const o = await this.tryGet(['-n', ns, 'vmbmc', bmc]);
    return o?.status?.conditions?.find((c: { type: string }) => c.type === type);
  }

  async waitCondition(ns: string, bmc: string, type: string, status: 'True' | 'False', timeoutMs = 60_000) {
    return waitFor(
      async () => {
        const c = await this.condition(ns, bmc, type);
        return c?.status === status ? c : undefined;
      },
      { timeoutMs, intervalMs: 200, what: `${type}=${status} on ${ns}/${bmc}` },
    );
  }

  stop(): Promise<void> {
    return this.sim.stop();
  }
}

/**
 * The real kubectl as a ServiceAccount, with a token from TokenRequest (what its pods get): how the
 * tests check what an agent's or the controller's own token may do.
 */
export async function kubectlAs(
  c: TestCluster,
  namespace: string,
  serviceAccount: string,
): Promise<(args: string[], input?: string) => Promise<Run>> {
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'sa-token-')), 'kubeconfig');
  writeFileSync(kubeconfig, await c.sim.serviceAccountKubeconfig(namespace, serviceAccount));
  return (args, input) => run('kubectl', ['--kubeconfig', kubeconfig, ...args], { input, timeoutMs: 30_000 });
}

/** The request was refused (RBAC or an admission policy), and says so; `message` what the refusal said. */
export function assertForbidden(r: Run, what: string, message?: RegExp): void {
  assert.notEqual(r.code, 0, `${what} was allowed`);
  assert.match(r.stderr, /Forbidden|forbidden/, `${what}: ${r.stderr}`);
  if (message) assert.match(r.stderr, message, `${what}: ${r.stderr}`);
}

export function vmYaml(ns: string, name: string): string {
  return `apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: ${name}, namespace: ${ns}}
spec:
  runStrategy: Halted
  template:
    spec:
      domain:
        devices:
          disks: [{name: rootdisk, bootOrder: 1, disk: {bus: virtio}}, {name: cdrom, cdrom: {bus: sata}}]
          interfaces: [{name: default, masquerade: {}}]
        memory: {guest: 512Mi}
      networks: [{name: default, pod: {}}]
      volumes: [{name: rootdisk, containerDisk: {image: quay.io/containerdisks/fedora:latest}}]
`;
}

export function secretYaml(ns: string, name: string, username: string, password: string): string {
  return `apiVersion: v1
kind: Secret
metadata: {name: ${name}, namespace: ${ns}}
type: Opaque
data:
  username: ${Buffer.from(username).toString('base64')}
  password: ${Buffer.from(password).toString('base64')}
`;
}

export function bmcYaml(ns: string, name: string, vm: string, secret: string, extraSpec = ''): string {
  return `apiVersion: bmc.kubevirt.io/v1beta1
kind: VirtualMachineBMC
metadata: {name: ${name}, namespace: ${ns}}
spec:
  virtualMachineRef: {name: ${vm}}
  authSecretRef: {name: ${secret}}
${extraSpec}`;
}

/** ipmitool over RMCP+ (lanplus) against host:port. */
export function ipmitool(endpoint: string, user: string, password: string, ...cmd: string[]): Promise<Run> {
  const [host, port] = endpoint.split(':') as [string, string];
  return run(
    'ipmitool',
    ['-I', 'lanplus', '-H', host, '-p', port, '-U', user, '-P', password, '-N', '1', '-R', '2', ...cmd],
    {
      timeoutMs: 20_000,
    },
  );
}

export function curl(url: string, user: string, password: string): Promise<Run> {
  return run('curl', ['-sS', '-u', `${user}:${password}`, '-w', '\n%{http_code}', '--max-time', '10', url], {
    timeoutMs: 15_000,
  });
}

/** A port free right now on 127.0.0.1 for the given protocol. */
export async function freePort(protocol: 'tcp' | 'udp' = 'tcp'): Promise<number> {
  if (protocol === 'udp') {
    const dgram = await import('node:dgram');
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const p = s.address().port;
    await new Promise<void>((r) => s.close(() => r()));
    return p;
  }
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/**
 * Like `missingClients` for the two general tools these tests also drive (curl for "an HTTP GET as a
 * user types it", openssl to make a certificate): a skip message when absent, a failure under CI=true.
 */
export function missingTools(...names: Array<'curl' | 'openssl'>): string | false {
  const missing = names.filter(
    (n) =>
      spawnSync(n, n === 'openssl' ? ['version'] : ['--version'], { stdio: 'ignore', timeout: 10_000 })
        .status !== 0,
  );
  if (missing.length === 0) return false;
  const message = `MISSING TOOL ${missing.join(', ')}: install with \`apt-get install ${missing.join(' ')}\``;
  if (process.env.CI === 'true') throw new Error(`${message} (CI=true: a missing tool is a failure)`);
  console.error(`\n*** SKIPPING: ${message} ***\n`);
  return message;
}

/** A `kubevirtbmc agent` process started by `startAgentProcess`. */
export interface AgentProcess {
  child: ChildProcess;
  /** Everything it printed so far, stdout and stderr. */
  log(): string;
  /** `127.0.0.1:port`, empty when IPMI is off (`ipmiPort: 0`). */
  ipmi: string;
  redfish: string;
  /** The metrics and health server. */
  health: string;
  /** SIGTERM, then SIGKILL after 10 s; resolves when it has exited. */
  stop(): Promise<void>;
}

/**
 * Starts `bin/kubevirtbmc.js agent ARGS` as a user would, on free ports unless given (`ipmiPort: 0`
 * turns IPMI off), and waits until its /readyz answers 200.
 */
export async function startAgentProcess(
  args: string[],
  ports: { ipmiPort?: number; redfishPort?: number } = {},
): Promise<AgentProcess> {
  const ip = ports.ipmiPort ?? (await freePort('udp'));
  const rf = ports.redfishPort ?? (await freePort());
  const mp = await freePort();
  let log = '';
  const child = spawn(
    process.execPath,
    [
      join(REPO, 'bin/kubevirtbmc.js'),
      'agent',
      ...args,
      '--ipmi-port',
      String(ip),
      '--redfish-port',
      String(rf),
      '--metrics-port',
      String(mp),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, POD_IP: '' } },
  );
  child.stdout!.on('data', (d) => {
    log += d;
  });
  child.stderr!.on('data', (d) => {
    log += d;
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };
  const health = `http://127.0.0.1:${mp}`;
  try {
    await waitFor(async () => (await fetch(`${health}/readyz`).catch(() => null))?.status === 200, {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: 'agent ready',
    });
  } catch (e) {
    await stop();
    throw new Error(`${(e as Error).message}\n${log}`);
  }
  return {
    child,
    log: () => log,
    ipmi: ip === 0 ? '' : `127.0.0.1:${ip}`,
    redfish: `http://127.0.0.1:${rf}`,
    health,
    stop,
  };
}
