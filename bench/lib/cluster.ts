/**
 * The embedded cluster for the scale and resilience runs: start it, install the CRD, create N
 * VMs with a Secret and a VirtualMachineBMC each, find free port ranges, and run one agent process
 * serving the whole namespace (`kubevirtbmc agent --namespace NS --ipmi-port B --redfish-port B'`:
 * the i-th BMC by name on B+i).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { parse } from 'yaml';
import { subscriptionConfigMapName } from '../../src/agent/subscription-store.ts';
import { AGENT_NODE_OPTIONS } from '../../src/controller/builders.ts';
import { startCluster, type TestCluster } from '../../test/support/cluster.ts';
import { KubeHttp } from '../../test/support/kube-http.ts';
import { HttpConn } from './http-conn.ts';
import { RmcpConsole } from './rmcp.ts';

export const REPO = new URL('../../', import.meta.url).pathname;
export const NS = 'bench';
export const USER = 'admin';

export const bmcName = (i: number) => `bmc-${String(i).padStart(4, '0')}`;
export const vmName = (i: number) => `vm-${String(i).padStart(4, '0')}`;
export const passwordOf = (i: number) => `pw-${String(i).padStart(4, '0')}-x`;
/** Even VMs run, odd ones are halted: a BMC answering for the wrong VM is caught. */
export const expectOn = (i: number) => i % 2 === 0;

export interface Bench {
  sim: TestCluster;
  http: KubeHttp;
}

async function must(p: Promise<{ status: number; text: string }>, what: string): Promise<void> {
  const r = await p;
  if (r.status >= 300) throw new Error(`${what}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
}

/** Runs `fn` over 0..n-1, `concurrency` at a time. */
export async function pool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, concurrency) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

/**
 * The cluster of a bench run: the embedded one, or with `--control-plane real` (or
 * KUBEVIRTBMC_TEST_CLUSTER=real) kube-apiserver, etcd, controller-manager and scheduler with the
 * fake node and KubeVirt.
 */
export async function startBench(): Promise<Bench> {
  const flag = process.argv.find((a) => a.startsWith('--control-plane='))?.split('=')[1];
  const i = process.argv.indexOf('--control-plane');
  const kind = flag ?? (i >= 0 ? process.argv[i + 1] : undefined) ?? 'embedded';
  if (kind !== 'embedded' && kind !== 'real') throw new Error('--control-plane must be embedded or real');
  process.env.KUBEVIRTBMC_TEST_CLUSTER ??= kind;
  const sim = await startCluster({ timing: 'fast' });
  const http = new KubeHttp(sim.kubeconfigPath, 'kubevirtbmc-bench');
  const crd = parse(readFileSync(`${REPO}deploy/crd/virtualmachinebmcs.yaml`, 'utf8'));
  await must(http.req('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd), 'CRD');
  await must(
    http.req('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }),
    'namespace',
  );
  return { sim, http };
}

/** Creates VMs, Secrets and VirtualMachineBMCs from..to-1 and waits for the running ones. */
export async function populate(b: Bench, from: number, to: number): Promise<void> {
  await pool(to - from, 16, async (k) => {
    const i = from + k;
    await must(
      b.http.req('POST', `/apis/kubevirt.io/v1/namespaces/${NS}/virtualmachines`, {
        apiVersion: 'kubevirt.io/v1',
        kind: 'VirtualMachine',
        metadata: { name: vmName(i), namespace: NS },
        spec: {
          runStrategy: expectOn(i) ? 'Always' : 'Halted',
          template: {
            spec: {
              domain: {
                devices: { disks: [{ name: 'rootdisk', bootOrder: 1, disk: { bus: 'virtio' } }] },
                memory: { guest: '512Mi' },
              },
              volumes: [
                { name: 'rootdisk', containerDisk: { image: 'quay.io/containerdisks/fedora:latest' } },
              ],
            },
          },
        },
      }),
      `VM ${i}`,
    );
    await must(
      b.http.req('POST', `/api/v1/namespaces/${NS}/secrets`, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: `auth-${i}`, namespace: NS },
        data: {
          username: Buffer.from(USER).toString('base64'),
          password: Buffer.from(passwordOf(i)).toString('base64'),
        },
      }),
      `Secret ${i}`,
    );
    await must(
      b.http.req('POST', `/apis/bmc.kubevirt.io/v1beta1/namespaces/${NS}/virtualmachinebmcs`, {
        apiVersion: 'bmc.kubevirt.io/v1beta1',
        kind: 'VirtualMachineBMC',
        metadata: { name: bmcName(i), namespace: NS },
        spec: { virtualMachineRef: { name: vmName(i) }, authSecretRef: { name: `auth-${i}` } },
      }),
      `BMC ${i}`,
    );
    // The ConfigMap the controller creates for each BMC (Redfish subscriptions, remembered MACs);
    // the agent only reads and updates it, and would otherwise retry its MAC write now and then.
    await must(
      b.http.req('POST', `/api/v1/namespaces/${NS}/configmaps`, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: subscriptionConfigMapName(bmcName(i)), namespace: NS },
      }),
      `ConfigMap ${i}`,
    );
  });
  const want = Array.from({ length: to }, (_, i) => i).filter(expectOn).length;
  const deadline = Date.now() + 120_000;
  for (;;) {
    const r = await b.http.req('GET', `/apis/kubevirt.io/v1/namespaces/${NS}/virtualmachineinstances`);
    const running = (r.json.items ?? []).filter(
      (x: { status?: { phase?: string } }) => x.status?.phase === 'Running',
    );
    if (running.length >= want) return;
    if (Date.now() > deadline) throw new Error(`only ${running.length}/${want} VMs running after 120 s`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

async function udpFree(port: number): Promise<boolean> {
  const s = createSocket('udp4');
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A base port such that base..base+n-1 are free for `proto` now. */
export async function freeRange(proto: 'udp' | 'tcp', n: number, avoid: number[] = []): Promise<number> {
  const free = proto === 'udp' ? udpFree : tcpFree;
  for (let attempt = 0; attempt < 40; attempt++) {
    // Below the NodePort (30000-32767) and ephemeral (32768+) ranges other processes draw from.
    const base = 12000 + Math.floor(Math.random() * (29000 - 12000 - n));
    if (avoid.some((a) => Math.abs(a - base) < n + 10)) continue;
    let ok = true;
    for (let p = base; p < base + n && ok; p += 1) ok = await free(p);
    if (ok) return base;
  }
  throw new Error(`no free ${proto} range of ${n} ports`);
}

export interface AgentProcess {
  child: ChildProcess;
  ipmiBase: number;
  redfishBase: number;
  /** How the agent was run: the compiled dist/ or TypeScript through tsx. */
  build: 'dist' | 'tsx';
  stderr(): string;
  stop(): Promise<number | null>;
}

/**
 * One agent process serving every VirtualMachineBMC of the namespace (no controller needed), with
 * the Node options the controller's agent Deployments set (`AGENT_NODE_OPTIONS`) unless
 * `nodeOptions` says otherwise ('' for Node's defaults).
 */
export async function startAgent(
  b: Bench,
  n: number,
  extraEnv: Record<string, string> = {},
  options: { plainApi?: boolean; nodeOptions?: string } = {},
): Promise<AgentProcess> {
  let kubeconfig = b.sim.kubeconfigPath;
  if (options.plainApi) {
    // The sim answers plain HTTP on the same port: this isolates what TLS to the API server costs.
    kubeconfig = `${b.sim.kubeconfigPath}.plain`;
    writeFileSync(
      kubeconfig,
      readFileSync(b.sim.kubeconfigPath, 'utf8')
        .replace(/server: https:/g, 'server: http:')
        .replace(/certificate-authority-data: \S+/g, 'insecure-skip-tls-verify: true'),
    );
  }
  const ipmiBase = await freeRange('udp', n);
  const redfishBase = await freeRange('tcp', n, [ipmiBase]);
  const build = existsSync(`${REPO}dist/cli/main.js`) ? 'dist' : 'tsx';
  const child = spawn(
    process.execPath,
    [
      `${REPO}bin/kubevirtbmc.js`,
      'agent',
      '--namespace',
      NS,
      '--kubeconfig',
      kubeconfig,
      '--ipmi-port',
      String(ipmiBase),
      '--redfish-port',
      String(redfishBase),
      '--metrics-port',
      '0',
      '--log-level',
      'warn',
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        NODE_OPTIONS: [options.nodeOptions ?? AGENT_NODE_OPTIONS, extraEnv.NODE_OPTIONS ?? '']
          .filter((o) => o.length > 0)
          .join(' '),
        ...Object.fromEntries(Object.entries(extraEnv).filter(([k]) => k !== 'NODE_OPTIONS')),
      },
    },
  );
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-20000);
  });
  return {
    child,
    ipmiBase,
    redfishBase,
    build,
    stderr: () => err,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', (code) => {
          clearTimeout(t);
          resolve(code);
        });
        child.kill('SIGTERM');
      }),
  };
}

export const basicFor = (i: number) =>
  `Authorization: Basic ${Buffer.from(`${USER}:${passwordOf(i)}`).toString('base64')}\r\n`;

/**
 * Waits until every BMC answers: an RMCP+ session (suite 17) opens with its own password and a
 * Redfish GET of Systems/1 with Basic auth gives a PowerState. Fills `consoles` and `conns`.
 */
export async function connectAll(
  agent: AgentProcess,
  n: number,
  concurrency: number,
  consoles: RmcpConsole[],
  conns: HttpConn[],
  timeoutMs = 300_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  await pool(n, concurrency, async (i) => {
    for (;;) {
      if (agent.child.exitCode !== null) throw new Error(`agent exited: ${agent.stderr()}`);
      const bindError = /.*failed to listen.*/.exec(agent.stderr());
      if (bindError) throw new Error(`a port of the range was taken meanwhile; run again: ${bindError[0]}`);
      if (Date.now() > deadline)
        throw new Error(
          `BMC ${i} did not answer within ${timeoutMs / 1000} s (${lastError}); agent log: ${agent.stderr().slice(-3000)}`,
        );
      try {
        consoles[i] ??= await RmcpConsole.open({
          host: '127.0.0.1',
          port: agent.ipmiBase + i,
          username: USER,
          password: passwordOf(i),
          suite: 17,
          timeoutMs: 300,
        });
        conns[i] ??= new HttpConn('127.0.0.1', agent.redfishBase + i);
        const r = await conns[i].request('GET', '/redfish/v1/Systems/1', basicFor(i));
        if (r.status === 200 && JSON.parse(r.body.toString()).PowerState) return;
      } catch (err) {
        lastError = String(err);
        conns[i]?.close();
        delete conns[i];
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  });
}

/** The BMCs worker `w` of `workers` polls: each BMC belongs to exactly one worker. */
export function owned(w: number, workers: number, n: number): number[] {
  const out: number[] = [];
  for (let i = w; i < n; i += workers) out.push(i);
  return out;
}
