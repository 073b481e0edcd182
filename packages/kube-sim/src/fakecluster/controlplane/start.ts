/**
 * Starts the real control plane on 127.0.0.1: etcd, then kube-apiserver (TLS, Node,RBAC
 * authorization, ServiceAccount issuer and keys, the default admission plugins, the aggregation
 * layer's front proxy), then kube-controller-manager and kube-scheduler. Certificates come from
 * `openssl`; every port is free at start; everything lives in one temporary directory that
 * `stop()` removes.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeconfigYaml } from '../../embedded/kubeconfig.ts';
import type { ControlPlane } from '../controlplane.ts';
import { freePort } from '../ports.ts';
import { BUILD_HINT, type ControlPlaneBinaries, controlPlaneBinaries } from './binaries.ts';

export { controlPlaneBinaries };

export interface ControlPlaneOptions {
  /** kube-apiserver's port (default: a free one). */
  port?: number;
  /** Where to keep data and logs (default: a new temporary directory, removed by stop()). */
  dir?: string;
  /** Extra kube-apiserver flags, e.g. `--watch-cache=false`. */
  apiServerArgs?: string[];
  /** Extra kube-controller-manager flags. */
  controllerManagerArgs?: string[];
  /** How long to wait for each component to become healthy (default 120 s). */
  timeoutMs?: number;
  /**
   * Runs once kube-apiserver is ready and before the controller-manager starts: CRDs installed here
   * are known to its garbage collector from the start (it learns types added later only at its
   * discovery resync, every 30 s).
   */
  beforeControllers?: (api: {
    url: string;
    kubeconfigPath: string;
    caCert: string;
    frontProxy: ControlPlane['frontProxy'];
  }) => Promise<void>;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A CA (self-signed) named `name` in dir: name.crt, name.key. */
function makeCa(dir: string, name: string, cn: string): void {
  openssl(
    [
      'req',
      '-x509',
      ...EC,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '3650',
      '-subj',
      `/CN=${cn}`,
    ],
    dir,
  );
}

/** A leaf certificate signed by `ca`: name.crt, name.key; `san` like `IP:127.0.0.1,DNS:localhost`. */
function makeCert(
  dir: string,
  ca: string,
  name: string,
  subject: string,
  usage: 'server' | 'client',
  san?: string,
): void {
  openssl(['req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
  const ext = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
    ...(san ? [`subjectAltName=${san}`] : []),
  ].join('\n');
  writeFileSync(join(dir, `${name}.ext`), `${ext}\n`);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.crt`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '3650',
      '-extfile',
      `${name}.ext`,
    ],
    dir,
  );
}

/** GET url (trusting ca, if given, else any certificate) → status, or 0 when unreachable. */
function probe(url: string, ca?: string, token?: string): Promise<number> {
  return new Promise((resolve) => {
    const req = https.get(
      url,
      {
        ...(ca ? { ca } : { rejectUnauthorized: false }),
        ...(token ? { headers: { Authorization: `Bearer ${token}` } } : {}),
        timeout: 2000,
        agent: false,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

function probeHttp(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 2000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

interface Proc {
  name: string;
  args: string[];
  child?: ChildProcess;
  exited?: Promise<void>;
}

const PDEATHSIG = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // a test process that dies must not leave an API server behind
  process.on('exit', () => {
    for (const c of running) c.kill('SIGKILL');
  });
}

/**
 * Ports are picked free and then bound by another process, so a port can be taken in between by
 * anything else on the machine: a start that fails that way is tried again (three times in all)
 * with new ports.
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      const taken = /address already in use|bind: address/i.test((err as Error).message);
      if (!taken || attempt >= 3 || options.port !== undefined) throw err;
    }
  }
}

async function startOnce(options: ControlPlaneOptions): Promise<ControlPlane> {
  const bins: ControlPlaneBinaries | undefined = controlPlaneBinaries();
  if (!bins) throw new Error(BUILD_HINT);
  installExitHook();
  const started = Date.now();
  const timeoutMs = options.timeoutMs ?? 120_000;
  const ownDir = !options.dir;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'kubevirtbmc-cp-'));
  mkdirSync(dir, { recursive: true });
  const pki = join(dir, 'pki');
  mkdirSync(pki, { recursive: true });

  // --- certificates and keys
  makeCa(pki, 'ca', 'kubevirtbmc-test-ca');
  makeCert(
    pki,
    'ca',
    'apiserver',
    '/CN=kube-apiserver',
    'server',
    'IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local',
  );
  makeCert(
    pki,
    'ca',
    'apiserver-kubelet-client',
    '/O=system:masters/CN=kube-apiserver-kubelet-client',
    'client',
  );
  makeCa(pki, 'front-proxy-ca', 'kubevirtbmc-front-proxy-ca');
  makeCert(pki, 'front-proxy-ca', 'front-proxy-client', '/CN=front-proxy-client', 'client');
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key'], pki);
  openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], pki);

  const token = () => randomBytes(24).toString('hex');
  const adminToken = token();
  const kcmToken = token();
  const schedulerToken = token();
  writeFileSync(
    join(pki, 'tokens.csv'),
    [
      `${adminToken},kubernetes-admin,kubernetes-admin,"system:masters"`,
      `${kcmToken},system:kube-controller-manager,system:kube-controller-manager`,
      `${schedulerToken},system:kube-scheduler,system:kube-scheduler`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );

  // --- ports
  const apiPort = options.port ?? (await freePort());
  const etcdPort = await freePort();
  const etcdPeerPort = await freePort();
  const kcmPort = await freePort();
  const schedPort = await freePort();
  const url = `https://127.0.0.1:${apiPort}`;
  const caPath = join(pki, 'ca.crt');
  const caCert = readFileSync(caPath, 'utf8');

  const kubeconfigPath = join(dir, 'admin.kubeconfig');
  writeFileSync(
    kubeconfigPath,
    kubeconfigYaml(url, readFileSync(caPath, 'utf8'), 'kubernetes-admin', adminToken),
    { mode: 0o600 },
  );
  const kcmConfig = join(dir, 'controller-manager.kubeconfig');
  writeFileSync(
    kcmConfig,
    kubeconfigYaml(url, readFileSync(caPath, 'utf8'), 'system:kube-controller-manager', kcmToken),
    {
      mode: 0o600,
    },
  );
  const schedConfig = join(dir, 'scheduler.kubeconfig');
  writeFileSync(
    schedConfig,
    kubeconfigYaml(url, readFileSync(caPath, 'utf8'), 'system:kube-scheduler', schedulerToken),
    {
      mode: 0o600,
    },
  );

  const etcd: Proc = {
    name: 'etcd',
    args: [
      '--name=default',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeerPort}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ],
  };
  const apiserver: Proc = {
    name: 'kube-apiserver',
    args: [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${pki}`,
      `--tls-cert-file=${join(pki, 'apiserver.crt')}`,
      `--tls-private-key-file=${join(pki, 'apiserver.key')}`,
      `--client-ca-file=${caPath}`,
      `--token-auth-file=${join(pki, 'tokens.csv')}`,
      '--authorization-mode=Node,RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(pki, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/12',
      '--allow-privileged=true',
      // the Service `default/kubernetes` would get 127.0.0.1 Endpoints, which validation refuses
      '--endpoint-reconciler-type=none',
      `--requestheader-client-ca-file=${join(pki, 'front-proxy-ca.crt')}`,
      '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-username-headers=X-Remote-User',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      `--proxy-client-cert-file=${join(pki, 'front-proxy-client.crt')}`,
      `--proxy-client-key-file=${join(pki, 'front-proxy-client.key')}`,
      `--kubelet-client-certificate=${join(pki, 'apiserver-kubelet-client.crt')}`,
      `--kubelet-client-key=${join(pki, 'apiserver-kubelet-client.key')}`,
      '--kubelet-preferred-address-types=InternalIP,Hostname',
      '--profiling=false',
      ...(options.apiServerArgs ?? []),
    ],
  };
  const kcm: Proc = {
    name: 'kube-controller-manager',
    args: [
      `--kubeconfig=${kcmConfig}`,
      `--authentication-kubeconfig=${kcmConfig}`,
      `--authorization-kubeconfig=${kcmConfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${kcmPort}`,
      `--cert-dir=${join(dir, 'kcm')}`,
      '--leader-elect=false',
      '--use-service-account-credentials=true',
      `--root-ca-file=${caPath}`,
      `--service-account-private-key-file=${join(pki, 'sa.key')}`,
      `--cluster-signing-cert-file=${caPath}`,
      `--cluster-signing-key-file=${join(pki, 'ca.key')}`,
      '--service-cluster-ip-range=10.96.0.0/12',
      '--profiling=false',
      ...(options.controllerManagerArgs ?? []),
    ],
  };
  const sched: Proc = {
    name: 'kube-scheduler',
    args: [
      `--kubeconfig=${schedConfig}`,
      `--authentication-kubeconfig=${schedConfig}`,
      `--authorization-kubeconfig=${schedConfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${schedPort}`,
      `--cert-dir=${join(dir, 'scheduler')}`,
      '--leader-elect=false',
      '--profiling=false',
    ],
  };

  const launch = (p: Proc) => {
    const log = openSync(join(dir, `${p.name}.log`), 'a');
    const bin = bins.path[p.name as keyof typeof bins.path];
    // setpriv --pdeathsig: the kernel kills the component when this process dies, even by a crash
    // that runs no exit hook (util-linux; without it, the exit hook below is all there is).
    const [cmd, args] = PDEATHSIG
      ? [PDEATHSIG, ['--pdeathsig', 'KILL', '--', bin, ...p.args]]
      : [bin, p.args];
    const child = spawn(cmd, args, {
      cwd: dir,
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    running.add(child);
    p.child = child;
    p.exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        running.delete(child);
        resolve();
      });
    });
  };
  const halt = async (p: Proc, graceMs = 5000) => {
    const c = p.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
    await p.exited;
    clearTimeout(t);
  };
  const logTail = (p: Proc) => {
    try {
      return readFileSync(join(dir, `${p.name}.log`), 'utf8')
        .split('\n')
        .slice(-15)
        .join('\n');
    } catch {
      return '';
    }
  };
  const waitHealthy = async (p: Proc, check: () => Promise<boolean>) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (p.child && (p.child.exitCode !== null || p.child.signalCode !== null))
        throw new Error(`${p.name} exited (${p.child.exitCode ?? p.child.signalCode}):\n${logTail(p)}`);
      if (await check()) return;
      if (Date.now() > deadline)
        throw new Error(`${p.name} not healthy after ${timeoutMs} ms:\n${logTail(p)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const etcdHealthy = async () => (await probeHttp(`http://127.0.0.1:${etcdPort}/health`)) === 200;
  const apiReady = async () => (await probe(`${url}/readyz`, caCert)) === 200;
  const all = [sched, kcm, apiserver, etcd];
  const frontProxy: ControlPlane['frontProxy'] = {
    caCert: readFileSync(join(pki, 'front-proxy-ca.crt'), 'utf8'),
    allowedNames: ['front-proxy-client'],
    usernameHeader: 'X-Remote-User',
    groupHeader: 'X-Remote-Group',
    extraHeaderPrefix: 'X-Remote-Extra-',
  };
  const stopAll = async () => {
    for (const p of all) await halt(p);
  };

  try {
    launch(etcd);
    await waitHealthy(etcd, etcdHealthy);
    launch(apiserver);
    await waitHealthy(apiserver, apiReady);
    await options.beforeControllers?.({ url, kubeconfigPath, caCert, frontProxy });
    launch(kcm);
    launch(sched);
    await waitHealthy(kcm, async () => (await probe(`https://127.0.0.1:${kcmPort}/healthz`)) === 200);
    await waitHealthy(sched, async () => (await probe(`https://127.0.0.1:${schedPort}/healthz`)) === 200);
    // Pods need the namespace's "default" ServiceAccount, which the controller-manager creates.
    await waitHealthy(
      kcm,
      async () =>
        (await probe(`${url}/api/v1/namespaces/default/serviceaccounts/default`, caCert, adminToken)) === 200,
    );
  } catch (err) {
    await stopAll();
    if (ownDir) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const startupMs = Date.now() - started;

  let stopped = false;
  return {
    url,
    kubeconfigPath,
    adminToken,
    caCert,
    frontProxy,
    version: bins.version,
    dir,
    startupMs,
    async restartApiServer() {
      await halt(apiserver);
      launch(apiserver);
      await waitHealthy(apiserver, apiReady);
    },
    async compactEtcd() {
      // etcd's own HTTP gateway: the current revision, then a compaction up to it
      const head = (await (
        await fetch(`http://127.0.0.1:${etcdPort}/v3/kv/range`, {
          method: 'POST',
          body: JSON.stringify({ key: Buffer.from('/').toString('base64') }),
        })
      ).json()) as { header: { revision: string } };
      const r = await fetch(`http://127.0.0.1:${etcdPort}/v3/kv/compaction`, {
        method: 'POST',
        body: JSON.stringify({ revision: head.header.revision, physical: true }),
      });
      if (!r.ok) throw new Error(`etcd compaction failed: HTTP ${r.status} ${await r.text()}`);
      return head.header.revision;
    },
    async restartEtcd() {
      await halt(etcd);
      launch(etcd);
      await waitHealthy(etcd, etcdHealthy);
      await waitHealthy(apiserver, apiReady);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopAll();
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
