/**
 * The fake node's kubelet: it watches the pods bound to its node (field selector
 * `spec.nodeName=<node>`) and runs them. A container whose image repository ends in `kubevirtbmc`
 * runs as a child process, `agentCommand` followed by the container's `args` (`$(VAR)` expanded;
 * its `command` stands for the image's entrypoint and is ignored), with:
 *
 * - the container's environment resolved as a kubelet does (see env.ts), Secrets and ConfigMaps
 *   read through the API;
 * - `KUBECONFIG`: a kubeconfig for the pod's ServiceAccount whose token comes from a TokenRequest
 *   bound to the pod (`expirationSeconds` 3600), renewed at 80 % of its life by rewriting the token
 *   file and the kubeconfig, as a kubelet refreshes a projected token;
 * - `POD_IP=127.0.0.1` and `KUBEVIRTBMC_SIM_PORT_MAP`: every declared `"<containerPort>/<PROTO>"`
 *   mapped to a free 127.0.0.1 port the process must bind instead (src/agent/ports.ts), also
 *   published on the pod as the annotation `sim.kubevirtbmc.io/host-ports`.
 *
 * Other containers are simulated: they run (and are ready) until the pod is deleted.
 *
 * Pod addresses, as found on kube-apiserver v1.37: the API server accepts 127.0.0.1 as a pod's
 * `podIP`/`podIPs` and as `hostIP` and a Node's InternalIP, but Endpoints and EndpointSlices refuse
 * it ("may not be in the loopback range (127.0.0.0/8, ::1/128)"), so with loopback pod IPs the
 * real endpoint and EndpointSlice controllers fail on every Service, retrying with Warning events.
 * So each pod gets a `status.podIP` of its own from the node's pod CIDR (10.88.0.0/16 by default,
 * as a CNI plugin would give, and as kwok does) and the EndpointSlices the real controllers write
 * are valid; that address is not reachable from this machine. The process itself binds 127.0.0.1:
 * its `POD_IP` and any `fieldRef` to `status.podIP`/`status.podIPs` resolve to 127.0.0.1, the address it
 * really has. `hostIP` is 127.0.0.1. What a user on this machine connects to is the Service
 * annotation `sim.kubevirtbmc.io/endpoints` written by the service proxy (service-proxy.ts).
 *
 * Probes: `httpGet` and `tcpSocket` readiness and liveness probes go to the mapped port on
 * 127.0.0.1 (`exec` and `grpc` probes count as passing: there is no container to run them in).
 * With `timing: 'fast'` an unready container is probed every 100 ms and a ready one every second;
 * `realistic` uses the probe's own initialDelaySeconds and periodSeconds. Thresholds are honoured.
 * A process that exits is restarted per `restartPolicy` with CrashLoopBackOff-like backoff
 * (doubling; 10 s to 5 min when realistic, 50 ms to 2 s when fast); its ports stay the same.
 *
 * Deletion: a pod with a deletionTimestamp gets SIGTERM, then SIGKILL after its grace period (at
 * least 2 s, as the kubelet's minimum); once every process has exited, the final status is written
 * and the pod deleted with `gracePeriodSeconds: 0` and a uid precondition, as a kubelet does. A pod
 * removed outright (force deletion) is killed the same way without any API call.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { KubeClient } from '../../../../../src/kube/client.ts';
import { isConflict, isNotFound } from '../../../../../src/kube/errors.ts';
import type { Informer } from '../../../../../src/kube/informer.ts';
import { freePodHostPort } from '../ports.ts';
import { EnvError, expand, resolveEnv } from './env.ts';
import { LogBuffer, type LogQuery } from './logs.ts';
import {
  type Container,
  HOST_PORTS_ANNOTATION,
  isAgentImage,
  type Logger,
  now,
  type Pod,
  type PodCondition,
  type Probe,
} from './types.ts';

export interface KubeletOptions {
  /** A client with the node's rights (the fake node uses an admin client). */
  client: KubeClient;
  nodeName: string;
  /** The pods bound to this node (field selector `spec.nodeName=<node>`); the kubelet subscribes before it starts. */
  pods: Informer<Pod>;
  agentCommand: string[];
  /** Where pod directories (kubeconfig, token) go. */
  dir: string;
  /** The API server as the pods' kubeconfigs name it. */
  podApi: { server: string; caPem?: string; skipTLSVerify?: boolean };
  /** The node's pod CIDR (IPv4, prefix /8 to /30), where pod IPs come from. */
  podCIDR: string;
  allocatable: Record<string, string>;
  timing: 'fast' | 'realistic';
  /** Renew each pod's token after this many ms instead of at 80 % of its life (for tests). */
  tokenRenewMs?: number;
  logger?: Logger;
}

/** The loopback address every process binds. */
const LOOPBACK = '127.0.0.1';
const TOKEN_SECONDS = 3600;
/** kubelet's minimum grace period for killing a container. */
const MIN_GRACE_SECONDS = 2;

type ContainerState =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | {
      terminated: {
        exitCode: number;
        signal?: number;
        reason: string;
        message?: string;
        startedAt?: string;
        finishedAt: string;
        containerID?: string;
      };
    };

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15 };

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}

/** IPv4 addresses of a CIDR, handed out and given back. */
class IpPool {
  readonly #base: number;
  readonly #size: number;
  readonly #used = new Set<number>();
  #next = 2;

  constructor(cidr: string) {
    const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
    const prefix = m ? Number(m[5]) : -1;
    if (!m || prefix < 8 || prefix > 30) throw new Error(`pod CIDR ${cidr}: an IPv4 CIDR from /8 to /30`);
    const addr = m.slice(1, 5).reduce((a, o) => a * 256 + Number(o), 0);
    this.#size = 2 ** (32 - prefix);
    this.#base = addr - (addr % this.#size);
  }

  #text(n: number): string {
    const v = this.#base + n;
    return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
  }

  /** Marks an address (from a pod's earlier status) as used, if it is in the pool. */
  claim(ip: string | undefined): boolean {
    if (!ip) return false;
    for (let n = 1; n < this.#size - 1; n++) {
      if (this.#text(n) === ip) {
        if (this.#used.has(n)) return false;
        this.#used.add(n);
        return true;
      }
    }
    return false;
  }

  take(): string {
    for (let i = 0; i < this.#size; i++) {
      const n = this.#next;
      this.#next = this.#next + 1 >= this.#size - 1 ? 2 : this.#next + 1;
      if (!this.#used.has(n)) {
        this.#used.add(n);
        return this.#text(n);
      }
    }
    throw new Error('the pod CIDR is exhausted');
  }

  release(ip: string | undefined): void {
    if (!ip) return;
    const v = ip.split('.').reduce((a, o) => a * 256 + Number(o), 0) - this.#base;
    this.#used.delete(v);
  }
}

class ContainerRuntime {
  child: ChildProcess | undefined;
  state: ContainerState = { waiting: { reason: 'ContainerCreating' } };
  lastState: ContainerState | undefined;
  restartCount = 0;
  ready = false;
  started = false;
  everStarted = false;
  log = new LogBuffer();
  previousLog: LogBuffer | undefined;
  containerID = '';
  startedAtMs = 0;
  backoffMs = 0;
  readinessTimer: NodeJS.Timeout | undefined;
  livenessTimer: NodeJS.Timeout | undefined;
  restartTimer: NodeJS.Timeout | undefined;
  killTimer: NodeJS.Timeout | undefined;
  /** Resolves when the current process (if any) has exited. */
  exited: Promise<void> = Promise.resolve();
  /** No further runs: the pod is terminating or done. */
  finished = false;

  constructor(
    readonly spec: Container,
    readonly agent: boolean,
  ) {}

  clearTimers(): void {
    for (const t of [this.readinessTimer, this.livenessTimer, this.restartTimer]) if (t) clearTimeout(t);
    this.readinessTimer = this.livenessTimer = this.restartTimer = undefined;
  }
}

interface PodToken {
  token: string;
  expiresMs: number;
  timer?: NodeJS.Timeout;
}

class PodWorker {
  pod: Pod;
  readonly uid: string;
  readonly ns: string;
  readonly name: string;
  started = false;
  terminating = false;
  /** Removed from the API server (no more writes). */
  gone = false;
  done = false;
  podIP: string | undefined;
  startTime: string | undefined;
  portMap: Record<string, number> = {};
  containers: ContainerRuntime[] = [];
  dir: string | undefined;
  token: PodToken | undefined;
  tokenPending: Promise<PodToken> | undefined;
  lastStatus: Record<string, unknown> | undefined;
  statusTimer: NodeJS.Timeout | undefined;
  writing = false;
  dirty = false;
  /** Pending operations (start, writes) that stop() waits for. */
  finishedAll: Promise<void> | undefined;

  constructor(pod: Pod) {
    this.pod = pod;
    this.uid = pod.metadata.uid ?? '';
    this.ns = pod.metadata.namespace ?? 'default';
    this.name = pod.metadata.name;
  }

  container(name?: string): ContainerRuntime | undefined {
    if (!name) return this.containers.find((c) => c.agent) ?? this.containers[0];
    return this.containers.find((c) => c.spec.name === name);
  }
}

export class Kubelet {
  readonly #o: KubeletOptions;
  readonly #workers = new Map<string, PodWorker>();
  /** The newest worker of each `namespace/name`. */
  readonly #names = new Map<string, PodWorker>();
  readonly #ips: IpPool;
  #stopping = false;
  #unsubscribe: () => void = () => {};
  readonly #fast: boolean;

  constructor(options: KubeletOptions) {
    this.#o = options;
    this.#ips = new IpPool(options.podCIDR);
    this.#fast = options.timing === 'fast';
  }

  /** Subscribes to the pod informer (call before starting it). */
  start(): void {
    this.#unsubscribe = this.#o.pods.on((type, pod) => this.#onEvent(type, pod));
  }

  // ---- queries

  #byName(ns: string, name: string): PodWorker | undefined {
    const w = this.#names.get(`${ns}/${name}`);
    return w && !w.done ? w : undefined;
  }

  /** The output of a container (default: the agent container, else the first) of a running pod. */
  logs(
    ns: string,
    name: string,
    q: LogQuery & { container?: string; previous?: boolean } = {},
  ): string | undefined {
    const c = this.#byName(ns, name)?.container(q.container);
    if (!c) return undefined;
    const buf = q.previous ? c.previousLog : c.log;
    return buf?.text(q);
  }

  /** The log buffer a kubelet API request reads, or a reason it cannot. */
  logBuffer(
    ns: string,
    name: string,
    container: string,
    previous: boolean,
  ): LogBuffer | { status: number; message: string } {
    const w = this.#byName(ns, name);
    if (!w) return { status: 404, message: `pod ${ns}/${name} is not running on this node` };
    const c = w.container(container);
    if (!c) return { status: 404, message: `container ${container} is not valid for pod ${name}` };
    const buf = previous ? c.previousLog : c.log;
    if (!buf)
      return {
        status: 400,
        message: `previous terminated container "${container}" in pod "${name}" not found`,
      };
    return buf;
  }

  /** The 127.0.0.1 port standing for a pod's declared container port (`"623/UDP"`). */
  hostPort(ns: string, name: string, key: string): number | undefined {
    return this.#byName(ns, name)?.portMap[key];
  }

  // ---- events

  #onEvent(type: 'add' | 'update' | 'delete', pod: Pod): void {
    if (this.#stopping) return;
    const uid = pod.metadata.uid ?? '';
    const key = `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`;
    // a pod of the same name with another uid means the old one is gone
    const same = this.#names.get(key);
    if (same && same.uid !== uid) this.#removed(same);
    let w = this.#workers.get(uid);
    if (type === 'delete') {
      if (w) this.#removed(w);
      return;
    }
    if (pod.spec?.nodeName !== this.#o.nodeName) return;
    if (!w) {
      const phase = pod.status?.phase;
      if (pod.metadata.deletionTimestamp) {
        // never ran here: nothing to stop
        void this.#deletePod(pod.metadata.namespace ?? 'default', pod.metadata.name, uid);
        return;
      }
      if (phase === 'Succeeded' || phase === 'Failed') return;
      w = new PodWorker(pod);
      this.#workers.set(uid, w);
      this.#names.set(key, w);
    }
    w.pod = pod;
    if (pod.metadata.deletionTimestamp) {
      if (!w.terminating) {
        const grace =
          pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
        void this.#terminate(w, grace);
      }
      return;
    }
    if (!w.started) {
      w.started = true;
      w.finishedAll = this.#startPod(w).catch((err) =>
        this.#o.logger?.warn(
          { pod: `${w.ns}/${w.name}`, err: String(err) },
          'fake kubelet: pod start failed',
        ),
      );
    }
  }

  // ---- start

  async #startPod(w: PodWorker): Promise<void> {
    const pod = w.pod;
    w.podIP = this.#ips.claim(pod.status?.podIP) ? pod.status!.podIP : this.#ips.take();
    w.startTime = pod.status?.startTime ?? now();
    const containers = pod.spec?.containers ?? [];
    for (const c of containers) {
      for (const cp of c.ports ?? []) {
        const proto = (cp.protocol ?? 'TCP').toUpperCase() === 'UDP' ? 'UDP' : 'TCP';
        const key = `${cp.containerPort}/${proto}`;
        if (w.portMap[key] === undefined) w.portMap[key] = await freePodHostPort(proto);
      }
    }
    w.containers = containers.map((c) => new ContainerRuntime(c, isAgentImage(c.image)));
    if (w.gone || w.terminating || this.#stopping) return;
    w.dir = join(this.#o.dir, `${w.ns}_${w.name}_${w.uid.slice(0, 8)}`);
    mkdirSync(w.dir, { recursive: true, mode: 0o700 });
    if (Object.keys(w.portMap).length > 0) {
      try {
        await this.#o.client.request(
          'PATCH',
          `/api/v1/namespaces/${encodeURIComponent(w.ns)}/pods/${encodeURIComponent(w.name)}`,
          {
            body: {
              metadata: { uid: w.uid, annotations: { [HOST_PORTS_ANNOTATION]: JSON.stringify(w.portMap) } },
            },
            contentType: 'application/merge-patch+json',
          },
        );
      } catch (err) {
        if (isNotFound(err)) return;
        this.#o.logger?.warn(
          { pod: `${w.ns}/${w.name}`, err: String(err) },
          'fake kubelet: cannot annotate pod',
        );
      }
    }
    this.#o.logger?.info(
      { pod: `${w.ns}/${w.name}`, podIP: w.podIP, ports: w.portMap },
      'fake kubelet: starting pod',
    );
    for (const c of w.containers) {
      if (c.agent) void this.#run(w, c);
      else {
        // a simulated container: runs, and is ready, until the pod goes
        c.containerID = `fake://${w.uid.slice(0, 8)}-${c.spec.name}`;
        c.state = { running: { startedAt: now() } };
        c.started = c.everStarted = true;
        c.ready = true;
      }
    }
    this.#scheduleStatus(w);
  }

  async #podToken(w: PodWorker): Promise<PodToken> {
    if (w.token && w.token.expiresMs - Date.now() > 60_000) return w.token;
    w.tokenPending ??= this.#requestToken(w).finally(() => {
      w.tokenPending = undefined;
    });
    return w.tokenPending;
  }

  /** A TokenRequest bound to the pod, written where the pod's kubeconfig reads it. */
  async #requestToken(w: PodWorker): Promise<PodToken> {
    const sa = w.pod.spec?.serviceAccountName ?? w.pod.spec?.serviceAccount ?? 'default';
    const res = await this.#o.client.request<{ status: { token: string; expirationTimestamp?: string } }>(
      'POST',
      `/api/v1/namespaces/${encodeURIComponent(w.ns)}/serviceaccounts/${encodeURIComponent(sa)}/token`,
      {
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: {
            expirationSeconds: TOKEN_SECONDS,
            boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: w.name, uid: w.uid },
          },
        },
      },
    );
    const issued = Date.now();
    const expiresMs = res.status.expirationTimestamp
      ? Date.parse(res.status.expirationTimestamp)
      : issued + TOKEN_SECONDS * 1000;
    const token: PodToken = { token: res.status.token, expiresMs };
    if (w.dir && !w.gone && !w.done) {
      const tokenFile = join(w.dir, 'token');
      writeAtomic(tokenFile, token.token);
      writeAtomic(join(w.dir, 'kubeconfig'), this.#kubeconfig(w, sa, token.token, tokenFile));
    }
    if (w.token?.timer) clearTimeout(w.token.timer);
    w.token = token;
    this.#scheduleRenewal(w, this.#o.tokenRenewMs ?? Math.max(1000, 0.8 * (expiresMs - issued)));
    return token;
  }

  #scheduleRenewal(w: PodWorker, afterMs: number): void {
    const t = w.token;
    if (!t) return;
    if (t.timer) clearTimeout(t.timer);
    t.timer = setTimeout(() => {
      if (w.gone || w.done || this.#stopping) return;
      this.#requestToken(w).then(
        () => this.#o.logger?.info({ pod: `${w.ns}/${w.name}` }, 'fake kubelet: pod token renewed'),
        (err) => {
          if (w.gone || w.done || this.#stopping) return;
          this.#o.logger?.warn(
            { pod: `${w.ns}/${w.name}`, err: String(err) },
            'fake kubelet: token renewal failed',
          );
          this.#scheduleRenewal(w, this.#fast ? 1000 : 10_000);
        },
      );
    }, afterMs);
    t.timer.unref();
  }

  /**
   * The pod's kubeconfig: both the token (for readers that load it once) and the token file (for
   * readers that re-read it, as client-go and src/kube/config.ts do); both are rewritten on renewal.
   */
  #kubeconfig(w: PodWorker, sa: string, token: string, tokenFile: string): string {
    const api = this.#o.podApi;
    const user = `system:serviceaccount:${w.ns}:${sa}`;
    return stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'fake-node',
          cluster: {
            server: api.server,
            ...(api.caPem ? { 'certificate-authority-data': Buffer.from(api.caPem).toString('base64') } : {}),
            ...(api.skipTLSVerify ? { 'insecure-skip-tls-verify': true } : {}),
          },
        },
      ],
      users: [{ name: user, user: { token, tokenFile } }],
      contexts: [{ name: 'fake-node', context: { cluster: 'fake-node', user, namespace: w.ns } }],
      'current-context': 'fake-node',
    });
  }

  async #secret(ns: string, name: string): Promise<Record<string, string> | undefined> {
    try {
      const s = await this.#o.client.request<{ data?: Record<string, string> }>(
        'GET',
        `/api/v1/namespaces/${encodeURIComponent(ns)}/secrets/${encodeURIComponent(name)}`,
      );
      return Object.fromEntries(
        Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
      );
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async #configMap(ns: string, name: string): Promise<Record<string, string> | undefined> {
    try {
      const cm = await this.#o.client.request<{ data?: Record<string, string> }>(
        'GET',
        `/api/v1/namespaces/${encodeURIComponent(ns)}/configmaps/${encodeURIComponent(name)}`,
      );
      return cm.data ?? {};
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  #backoff(c: ContainerRuntime): number {
    const [first, max] = this.#fast ? [50, 2000] : [10_000, 300_000];
    // a container that ran for a while starts over (the kubelet forgets after 10 minutes)
    if (c.startedAtMs && Date.now() - c.startedAtMs > (this.#fast ? 10_000 : 600_000)) c.backoffMs = 0;
    c.backoffMs = c.backoffMs ? Math.min(max, c.backoffMs * 2) : first;
    return c.backoffMs;
  }

  /** Starts (or restarts) an agent container's process. */
  async #run(w: PodWorker, c: ContainerRuntime): Promise<void> {
    if (w.terminating || w.gone || c.finished || this.#stopping) return;
    let env: Record<string, string>;
    let kubeconfig: string | undefined;
    try {
      env = await resolveEnv(w.pod, c.spec, {
        podIP: LOOPBACK,
        hostIP: LOOPBACK,
        allocatable: this.#o.allocatable,
        secret: (ns, name) => this.#secret(ns, name),
        configMap: (ns, name) => this.#configMap(ns, name),
      });
      if (w.pod.spec?.automountServiceAccountToken !== false) {
        await this.#podToken(w);
        kubeconfig = join(w.dir!, 'kubeconfig');
      }
    } catch (err) {
      if (w.terminating || w.gone || this.#stopping) return;
      const message = err instanceof EnvError ? err.message : `${(err as Error).message ?? err}`;
      c.state = { waiting: { reason: 'CreateContainerConfigError', message } };
      this.#o.logger?.warn(
        { pod: `${w.ns}/${w.name}`, container: c.spec.name, message },
        'fake kubelet: cannot start container',
      );
      this.#scheduleStatus(w);
      c.restartTimer = setTimeout(() => void this.#run(w, c), this.#backoff(c));
      return;
    }
    if (w.terminating || w.gone || c.finished || this.#stopping) return;
    const [cmd, ...base] = this.#o.agentCommand;
    const args = (c.spec.args ?? []).map((a) => expand(String(a), env));
    // this process's own environment (PATH, NODE_OPTIONS…), but never its cluster credentials
    const inherited: NodeJS.ProcessEnv = { ...process.env };
    for (const k of ['KUBECONFIG', 'POD_IP', 'KUBEVIRTBMC_SIM_PORT_MAP']) delete inherited[k];
    const child = spawn(cmd!, [...base, ...args], {
      env: {
        ...inherited,
        ...env,
        ...(kubeconfig ? { KUBECONFIG: kubeconfig } : {}),
        POD_IP: LOOPBACK,
        KUBEVIRTBMC_SIM_PORT_MAP: JSON.stringify(w.portMap),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    c.child = child;
    RUNNING.add(child);
    const log = c.log;
    let markExited: () => void = () => {};
    c.exited = new Promise<void>((r) => {
      markExited = r;
    });
    child.stdout?.setEncoding('utf8').on('data', (d: string) => log.append('stdout', d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => log.append('stderr', d));
    const startedAt = now();
    let ended = false;
    const end = (code: number | null, signal: NodeJS.Signals | null, message?: string) => {
      if (ended) return;
      ended = true;
      RUNNING.delete(child);
      log.close();
      this.#exited(w, c, child, code, signal, startedAt, message);
      markExited();
    };
    child.on('error', (err) => {
      log.append('stderr', `fake kubelet: cannot start ${cmd}: ${err.message}\n`);
      if (child.pid === undefined) end(128, null, err.message);
    });
    child.on('close', (code, signal) => end(code, signal));
    child.on('spawn', () => {
      c.containerID = `fake://${w.uid.slice(0, 8)}-${c.spec.name}-${child.pid}`;
      c.state = { running: { startedAt } };
      c.started = c.everStarted = true;
      c.startedAtMs = Date.now();
      c.ready = false;
      if (c.spec.readinessProbe) this.#probeLoop(w, c, child, c.spec.readinessProbe, 'readiness');
      else c.ready = true;
      if (c.spec.livenessProbe) this.#probeLoop(w, c, child, c.spec.livenessProbe, 'liveness');
      this.#o.logger?.info(
        { pod: `${w.ns}/${w.name}`, container: c.spec.name, pid: child.pid },
        'fake kubelet: container started',
      );
      this.#scheduleStatus(w);
    });
  }

  #exited(
    w: PodWorker,
    c: ContainerRuntime,
    child: ChildProcess,
    code: number | null,
    signal: NodeJS.Signals | null,
    startedAt: string,
    message?: string,
  ): void {
    if (c.child === child) c.child = undefined;
    if (c.killTimer) clearTimeout(c.killTimer);
    c.killTimer = undefined;
    if (c.readinessTimer) clearTimeout(c.readinessTimer);
    if (c.livenessTimer) clearTimeout(c.livenessTimer);
    c.ready = false;
    c.started = false;
    const signum = signal ? (SIGNALS[signal] ?? 0) : 0;
    const exitCode = code ?? 128 + signum;
    const terminated: ContainerState = {
      terminated: {
        exitCode,
        ...(signal ? { signal: signum } : {}),
        reason: message ? 'StartError' : exitCode === 0 ? 'Completed' : 'Error',
        ...(message ? { message } : {}),
        startedAt,
        finishedAt: now(),
        ...(c.containerID ? { containerID: c.containerID } : {}),
      },
    };
    this.#o.logger?.info(
      { pod: `${w.ns}/${w.name}`, container: c.spec.name, exitCode: code, signal },
      'fake kubelet: container exited',
    );
    const policy = w.pod.spec?.restartPolicy ?? 'Always';
    const restart =
      !w.terminating &&
      !w.gone &&
      !this.#stopping &&
      (policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0));
    if (!restart) {
      c.state = terminated;
      if (!w.terminating && !w.gone && !this.#stopping) c.finished = true;
      this.#scheduleStatus(w);
      return;
    }
    c.restartCount++;
    c.lastState = terminated;
    const backoff = this.#backoff(c);
    c.state = {
      waiting: {
        reason: 'CrashLoopBackOff',
        message: `back-off ${Math.ceil(backoff / 1000)}s restarting failed container=${c.spec.name} pod=${w.name}_${w.ns}(${w.uid})`,
      },
    };
    this.#scheduleStatus(w);
    c.restartTimer = setTimeout(() => {
      c.restartTimer = undefined;
      c.previousLog = c.log;
      c.log = new LogBuffer();
      void this.#run(w, c);
    }, backoff);
  }

  // ---- probes

  /** One probe against the process: true when it passes. */
  async #probe(w: PodWorker, c: ContainerRuntime, p: Probe): Promise<boolean> {
    const timeoutMs = (p.timeoutSeconds ?? 1) * 1000;
    const target = p.httpGet ?? p.tcpSocket;
    if (!target) return true; // exec and grpc: nothing to run them in
    let port: number | undefined;
    if (typeof target.port === 'number') port = target.port;
    else if (/^\d+$/.test(target.port)) port = Number(target.port);
    else port = c.spec.ports?.find((x) => x.name === target.port)?.containerPort;
    if (port === undefined) return false;
    // not declared: the agent binds the container port itself (src/agent/ports.ts)
    const hostPort = w.portMap[`${port}/TCP`] ?? port;
    if (p.tcpSocket) {
      return new Promise((resolve) => {
        const s = connect({ host: LOOPBACK, port: hostPort, timeout: timeoutMs });
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
        s.once('timeout', () => {
          s.destroy();
          resolve(false);
        });
      });
    }
    const g = p.httpGet!;
    const secure = (g.scheme ?? 'HTTP').toUpperCase() === 'HTTPS';
    const headers: Record<string, string> = { 'User-Agent': 'kube-probe/fake', Accept: '*/*' };
    for (const h of g.httpHeaders ?? []) headers[h.name] = h.value;
    return new Promise((resolve) => {
      const req = (secure ? https : http).request(
        {
          host: LOOPBACK,
          port: hostPort,
          path: g.path ?? '/',
          method: 'GET',
          headers,
          timeout: timeoutMs,
          agent: false,
          ...(secure ? { rejectUnauthorized: false } : {}),
        },
        (res) => {
          res.resume();
          const s = res.statusCode ?? 0;
          resolve(s >= 200 && s < 400);
        },
      );
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
      req.end();
    });
  }

  #probeLoop(
    w: PodWorker,
    c: ContainerRuntime,
    child: ChildProcess,
    p: Probe,
    kind: 'readiness' | 'liveness',
  ): void {
    const period = (p.periodSeconds ?? 10) * 1000;
    const successes = kind === 'readiness' ? (p.successThreshold ?? 1) : 1;
    const failures = p.failureThreshold ?? 3;
    let ok = 0;
    let bad = 0;
    const interval = () => (kind === 'readiness' && this.#fast ? (c.ready ? 1000 : 100) : period);
    const schedule = (ms: number) => {
      const t = setTimeout(() => void tick(), ms);
      if (kind === 'readiness') c.readinessTimer = t;
      else c.livenessTimer = t;
    };
    const tick = async () => {
      if (c.child !== child || w.terminating || this.#stopping) return;
      const passed = await this.#probe(w, c, p);
      if (c.child !== child || w.terminating || this.#stopping) return;
      if (passed) {
        ok++;
        bad = 0;
      } else {
        bad++;
        ok = 0;
      }
      if (kind === 'readiness') {
        if (!c.ready && ok >= successes) {
          c.ready = true;
          this.#scheduleStatus(w);
        } else if (c.ready && bad >= failures) {
          c.ready = false;
          this.#scheduleStatus(w);
        }
      } else if (bad >= failures) {
        this.#o.logger?.warn(
          { pod: `${w.ns}/${w.name}`, container: c.spec.name },
          'fake kubelet: liveness probe failed; restarting the container',
        );
        this.#kill(c, this.#graceSeconds(w));
        return;
      }
      schedule(interval());
    };
    schedule(kind === 'readiness' && this.#fast ? 0 : (p.initialDelaySeconds ?? 0) * 1000);
  }

  // ---- termination

  #graceSeconds(w: PodWorker, grace?: number): number {
    return Math.max(MIN_GRACE_SECONDS, grace ?? w.pod.spec?.terminationGracePeriodSeconds ?? 30);
  }

  /** SIGTERM now, SIGKILL after the grace period. */
  #kill(c: ContainerRuntime, graceSeconds: number): void {
    const child = c.child;
    if (!child) return;
    child.kill('SIGTERM');
    if (c.killTimer) clearTimeout(c.killTimer);
    c.killTimer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, graceSeconds * 1000);
  }

  async #stopContainers(w: PodWorker, graceSeconds: number): Promise<void> {
    for (const c of w.containers) {
      c.finished = true;
      c.clearTimers();
      if (c.child) this.#kill(c, graceSeconds);
      else if (!c.agent && 'running' in c.state) {
        c.state = {
          terminated: {
            exitCode: 0,
            reason: 'Completed',
            startedAt: c.state.running.startedAt,
            finishedAt: now(),
            containerID: c.containerID,
          },
        };
        c.ready = c.started = false;
      }
    }
    await Promise.all(w.containers.map((c) => c.exited));
  }

  /** The pod has a deletionTimestamp: stop its processes, then delete it for good. */
  async #terminate(w: PodWorker, grace: number): Promise<void> {
    w.terminating = true;
    const pending = w.finishedAll;
    await pending;
    this.#o.logger?.info({ pod: `${w.ns}/${w.name}`, grace }, 'fake kubelet: terminating pod');
    await this.#stopContainers(w, this.#graceSeconds(w, grace));
    if (w.gone || this.#stopping) return this.#cleanup(w);
    await this.#flushStatus(w);
    await this.#deletePod(w.ns, w.name, w.uid);
    this.#cleanup(w);
  }

  async #deletePod(ns: string, name: string, uid: string): Promise<void> {
    try {
      await this.#o.client.request(
        'DELETE',
        `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}`,
        {
          body: {
            apiVersion: 'v1',
            kind: 'DeleteOptions',
            gracePeriodSeconds: 0,
            preconditions: { uid },
          },
        },
      );
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err))
        this.#o.logger?.warn({ pod: `${ns}/${name}`, err: String(err) }, 'fake kubelet: cannot delete pod');
    }
  }

  /** Gone from the API server (force deletion, or a new pod of the same name): stop it, no writes. */
  #removed(w: PodWorker): void {
    if (w.gone) return;
    w.gone = true;
    if (w.statusTimer) clearTimeout(w.statusTimer);
    if (w.terminating) return; // #terminate finishes and cleans up
    w.terminating = true;
    void (async () => {
      await w.finishedAll;
      await this.#stopContainers(w, MIN_GRACE_SECONDS);
      this.#cleanup(w);
    })();
  }

  #cleanup(w: PodWorker): void {
    if (w.done) return;
    w.done = true;
    if (w.statusTimer) clearTimeout(w.statusTimer);
    if (w.token?.timer) clearTimeout(w.token.timer);
    for (const c of w.containers) {
      c.clearTimers();
      if (c.killTimer) clearTimeout(c.killTimer);
    }
    if (w.dir) rmSync(w.dir, { recursive: true, force: true });
    this.#ips.release(w.podIP);
    this.#workers.delete(w.uid);
    const key = `${w.ns}/${w.name}`;
    if (this.#names.get(key) === w) this.#names.delete(key);
  }

  // ---- status

  #scheduleStatus(w: PodWorker): void {
    if (w.gone || w.done || this.#stopping) return;
    w.dirty = true;
    if (w.statusTimer || w.writing) return;
    w.statusTimer = setTimeout(
      () => {
        w.statusTimer = undefined;
        void this.#flushStatus(w);
      },
      this.#fast ? 5 : 50,
    );
  }

  async #flushStatus(w: PodWorker): Promise<void> {
    if (w.statusTimer) clearTimeout(w.statusTimer);
    w.statusTimer = undefined;
    while (w.writing) await new Promise((r) => setTimeout(r, 5));
    if (w.gone || this.#stopping) return;
    w.dirty = false;
    const status = this.#status(w);
    if (JSON.stringify(status) === JSON.stringify(w.lastStatus)) return;
    w.writing = true;
    try {
      await this.#o.client.request(
        'PATCH',
        `/api/v1/namespaces/${encodeURIComponent(w.ns)}/pods/${encodeURIComponent(w.name)}/status`,
        { body: { metadata: { uid: w.uid }, status }, contentType: 'application/merge-patch+json' },
      );
      w.lastStatus = status;
    } catch (err) {
      if (isNotFound(err)) return;
      this.#o.logger?.warn(
        { pod: `${w.ns}/${w.name}`, err: String(err) },
        'fake kubelet: status update failed',
      );
      setTimeout(() => this.#scheduleStatus(w), 1000).unref();
    } finally {
      w.writing = false;
    }
    if (w.dirty && !w.terminating) this.#scheduleStatus(w);
  }

  #containerStatus(c: ContainerRuntime): Record<string, unknown> {
    const image = c.spec.image ?? '';
    return {
      name: c.spec.name,
      image,
      imageID: `${image.split('@')[0]}@sha256:${'0'.repeat(64)}`,
      ...(c.containerID ? { containerID: c.containerID } : {}),
      ready: c.ready,
      started: c.started,
      restartCount: c.restartCount,
      state: c.state,
      lastState: c.lastState ?? {},
    };
  }

  /** The pod's whole status as this kubelet sees it; conditions keep their transition times. */
  #status(w: PodWorker): Record<string, unknown> {
    const cur = w.pod.status ?? {};
    const previous = (w.lastStatus?.conditions as PodCondition[] | undefined) ?? cur.conditions ?? [];
    const all = w.containers;
    const ready = all.length > 0 && all.every((c) => c.ready);
    const terminated = all.length > 0 && all.every((c) => c.finished && 'terminated' in c.state);
    const phase = terminated
      ? all.every((c) => 'terminated' in c.state && c.state.terminated.exitCode === 0)
        ? 'Succeeded'
        : 'Failed'
      : all.some((c) => c.everStarted)
        ? 'Running'
        : 'Pending';
    const t = now();
    const cond = (type: string, ok: boolean, reason?: string, message?: string): PodCondition => {
      const before = previous.find((x) => x.type === type);
      const status = ok ? 'True' : 'False';
      return {
        type,
        status,
        ...(reason ? { reason } : {}),
        ...(message ? { message } : {}),
        lastProbeTime: null,
        lastTransitionTime: before && before.status === status ? (before.lastTransitionTime ?? t) : t,
      };
    };
    const unready = all.filter((c) => !c.ready).map((c) => c.spec.name);
    const notReady = unready.length ? `containers with unready status: [${unready.join(' ')}]` : undefined;
    const own = ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady'];
    const conditions: PodCondition[] = [
      cond('PodReadyToStartContainers', !terminated),
      cond('Initialized', true),
      cond('Ready', ready, ready ? undefined : terminated ? 'PodCompleted' : 'ContainersNotReady', notReady),
      cond(
        'ContainersReady',
        ready,
        ready ? undefined : terminated ? 'PodCompleted' : 'ContainersNotReady',
        notReady,
      ),
      ...(cur.conditions ?? []).filter((x) => !own.includes(x.type)),
    ];
    const inits = w.pod.spec?.initContainers ?? [];
    return {
      phase,
      conditions,
      hostIP: LOOPBACK,
      hostIPs: [{ ip: LOOPBACK }],
      ...(w.podIP ? { podIP: w.podIP, podIPs: [{ ip: w.podIP }] } : {}),
      ...(w.startTime ? { startTime: w.startTime } : {}),
      ...(inits.length
        ? {
            initContainerStatuses: inits.map((c) => ({
              name: c.name,
              image: c.image ?? '',
              imageID: `${(c.image ?? '').split('@')[0]}@sha256:${'0'.repeat(64)}`,
              containerID: `fake://${w.uid.slice(0, 8)}-${c.name}`,
              ready: true,
              started: false,
              restartCount: 0,
              state: {
                terminated: {
                  exitCode: 0,
                  reason: 'Completed',
                  startedAt: w.startTime,
                  finishedAt: w.startTime,
                },
              },
              lastState: {},
            })),
          }
        : {}),
      containerStatuses: all.map((c) => this.#containerStatus(c)),
    };
  }

  // ---- stop

  /** Stops every process (SIGTERM, SIGKILL after 2 s); the pods stay as they are in the API. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#unsubscribe();
    const all = [...this.#workers.values()];
    await Promise.all(
      all.map(async (w) => {
        w.terminating = true;
        await w.finishedAll;
        await this.#stopContainers(w, MIN_GRACE_SECONDS);
        this.#cleanup(w);
      }),
    );
  }
}

/** Every agent process of every fake kubelet in this process: killed if the process exits first. */
const RUNNING = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of RUNNING) c.kill('SIGKILL');
});
