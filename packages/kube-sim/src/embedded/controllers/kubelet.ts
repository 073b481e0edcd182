/**
 * The kubelet of the one simulated node. Pods whose container image repository ends in
 * `kubevirtbmc` run as child processes (agentCommand + container args) with the pod's env, a
 * ServiceAccount kubeconfig, POD_IP=127.0.0.1 and KUBEVIRTBMC_SIM_PORT_MAP giving a free 127.0.0.1
 * port for each declared containerPort. Other pods are simulated containers that just run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../fakecluster/ports.ts';
import { clone } from '../patch.ts';
import type { Registry } from '../registry.ts';
import type { ResourceType } from '../resources.ts';
import type { Obj, StoreEvent } from '../store.ts';
import type { Delays, Scheduler } from '../timing.ts';

/** The one node of the embedded cluster. */
export const NODE_NAME = 'sim-node-1';

export interface KubeletOptions {
  agentCommand: string[];
  kubeconfigFor: (namespace: string, serviceAccount: string) => string;
  delays: Delays;
}

const LOG_LIMIT = 256 * 1024;

function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `registry.example/org/kubevirtbmc:v1` → `registry.example/org/kubevirtbmc`. */
export function imageRepository(image: string): string {
  let s = image.split('@')[0]!;
  const slash = s.lastIndexOf('/');
  const colon = s.lastIndexOf(':');
  if (colon > slash) s = s.slice(0, colon);
  return s;
}

export function isAgentImage(image: string | undefined): boolean {
  return !!image && imageRepository(image).endsWith('kubevirtbmc');
}

interface RunningPod {
  uid: string;
  ns: string;
  name: string;
  agent: boolean;
  portMap: Record<string, number>;
  child?: ChildProcess;
  dir?: string;
  log: string;
  restarts: number;
  terminating: boolean;
  exited: Promise<void>;
  markExited: () => void;
  readyTimer?: NodeJS.Timeout;
  restartTimer?: NodeJS.Timeout;
  killTimer?: NodeJS.Timeout;
  ready: boolean;
}

export class KubeletSim {
  private readonly POD: ResourceType;
  private readonly pods = new Map<string, RunningPod>();
  private readonly unsubscribe: () => void;
  private stopping = false;

  constructor(
    private readonly reg: Registry,
    private readonly sched: Scheduler,
    private readonly o: KubeletOptions,
  ) {
    this.POD = reg.type('', 'pods');
    this.unsubscribe = reg.store.subscribe((e) => this.onEvent(e));
  }

  logs(ns: string, name: string, q: URLSearchParams): string | undefined {
    const p = [...this.pods.values()].find((x) => x.ns === ns && x.name === name);
    if (!p) return undefined;
    const tail = Number(q.get('tailLines') ?? 0);
    if (tail > 0)
      return p.log
        .split('\n')
        .slice(-tail - 1)
        .join('\n');
    return p.log;
  }

  hostPort(ns: string, name: string, key: string): number | undefined {
    const p = [...this.pods.values()].find((x) => x.ns === ns && x.name === name);
    return p?.portMap[key];
  }

  private onEvent(e: StoreEvent): void {
    if (e.key !== '/pods' || this.stopping) return;
    const pod = e.obj;
    const uid = pod.metadata.uid;
    const running = this.pods.get(uid);
    if (e.type === 'DELETED') {
      if (running) this.terminate(running, 0);
      return;
    }
    if (pod.metadata.deletionTimestamp) {
      if (running && !running.terminating)
        this.terminate(running, pod.metadata.deletionGracePeriodSeconds ?? 30);
      else if (!running)
        this.sched.soon(() => this.reg.forceRemove(this.POD, pod.metadata.namespace, pod.metadata.name));
      return;
    }
    // only pods bound to this node run (a pod bound elsewhere stays Pending, as with no kubelet there)
    if (!running && pod.spec?.nodeName === NODE_NAME && pod.status?.phase === 'Pending') {
      this.sched.after(
        this.o.delays.podStep,
        () => void this.startPod(uid, pod.metadata.namespace, pod.metadata.name),
      );
    }
  }

  private writeStatus(p: RunningPod, mutate: (pod: Obj) => void): void {
    const cur = this.reg.tryGet(this.POD, p.ns, p.name);
    if (!cur || cur.metadata.uid !== p.uid) return;
    const next = clone(cur);
    next.status ??= {};
    mutate(next);
    try {
      this.reg.update(this.POD, p.ns, p.name, next, { subresource: 'status', internal: true });
    } catch {
      // raced with a delete
    }
  }

  private containerStatuses(pod: Obj, p: RunningPod, state: Obj, ready: boolean, lastState?: Obj): Obj[] {
    return (pod.spec?.containers ?? []).map((c: Obj, i: number) => ({
      name: c.name,
      image: c.image,
      imageID: `${imageRepository(c.image ?? '')}@sha256:${'0'.repeat(64)}`,
      containerID: `sim://${p.uid.slice(0, 8)}-${i}`,
      ready,
      started: !!state.running,
      restartCount: p.restarts,
      state,
      ...(lastState ? { lastState } : {}),
    }));
  }

  private setRunning(p: RunningPod, ready: boolean): void {
    p.ready = ready;
    this.writeStatus(p, (pod) => {
      const t = now();
      const cond = (type: string, status: boolean) => ({
        type,
        status: status ? 'True' : 'False',
        lastProbeTime: null,
        lastTransitionTime: t,
      });
      pod.status.phase = 'Running';
      pod.status.podIP = '127.0.0.1';
      pod.status.podIPs = [{ ip: '127.0.0.1' }];
      pod.status.hostIP = '127.0.0.1';
      pod.status.startTime ??= t;
      pod.status.conditions = [
        cond('PodReadyToStartContainers', true),
        cond('Initialized', true),
        cond('Ready', ready),
        cond('ContainersReady', ready),
        cond('PodScheduled', true),
      ];
      pod.status.containerStatuses = this.containerStatuses(pod, p, { running: { startedAt: t } }, ready);
    });
  }

  private async startPod(uid: string, ns: string, name: string): Promise<void> {
    if (this.pods.has(uid) || this.stopping) return;
    const pod = this.reg.tryGet(this.POD, ns, name);
    if (!pod || pod.metadata.uid !== uid || pod.metadata.deletionTimestamp) return;
    const containers: Obj[] = pod.spec?.containers ?? [];
    const agentContainer = containers.find((c) => isAgentImage(c.image));
    let markExited = () => {};
    const exited = new Promise<void>((r) => {
      markExited = r;
    });
    const p: RunningPod = {
      uid,
      ns,
      name,
      agent: !!agentContainer,
      portMap: {},
      log: '',
      restarts: 0,
      terminating: false,
      exited,
      markExited,
      ready: false,
    };
    this.pods.set(uid, p);
    for (const c of containers) {
      for (const cp of c.ports ?? []) {
        const proto = (cp.protocol ?? 'TCP') === 'UDP' ? 'UDP' : 'TCP';
        p.portMap[`${cp.containerPort}/${proto}`] = await freePort(proto);
      }
    }
    if (!agentContainer) {
      markExited();
      this.setRunning(p, true);
      return;
    }
    p.dir = mkdtempSync(join(tmpdir(), `kubevirtbmc-pod-${name}-`));
    this.spawnAgent(p, agentContainer);
  }

  private resolveEnv(pod: Obj, c: Obj): Record<string, string> {
    const env: Record<string, string> = {};
    for (const e of c.env ?? []) {
      if (e.value !== undefined)
        env[e.name] = String(e.value).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v) => env[v] ?? m);
      else if (e.valueFrom?.fieldRef) {
        const path = e.valueFrom.fieldRef.fieldPath;
        const v =
          path === 'metadata.name'
            ? pod.metadata.name
            : path === 'metadata.namespace'
              ? pod.metadata.namespace
              : path === 'metadata.uid'
                ? pod.metadata.uid
                : path === 'status.podIP' || path === 'status.hostIP'
                  ? '127.0.0.1'
                  : path === 'spec.serviceAccountName'
                    ? (pod.spec?.serviceAccountName ?? 'default')
                    : path === 'spec.nodeName'
                      ? pod.spec?.nodeName
                      : undefined;
        if (v !== undefined) env[e.name] = String(v);
      } else if (e.valueFrom?.secretKeyRef) {
        const ref = e.valueFrom.secretKeyRef;
        const s = this.reg.store.peek('/secrets', pod.metadata.namespace, ref.name);
        const raw =
          s?.data?.[ref.key] !== undefined
            ? Buffer.from(s.data[ref.key], 'base64').toString('utf8')
            : s?.stringData?.[ref.key];
        if (raw !== undefined) env[e.name] = raw;
      } else if (e.valueFrom?.configMapKeyRef) {
        const ref = e.valueFrom.configMapKeyRef;
        const cm = this.reg.store.peek('/configmaps', pod.metadata.namespace, ref.name);
        if (cm?.data?.[ref.key] !== undefined) env[e.name] = cm.data[ref.key];
      }
    }
    return env;
  }

  private appendLog(p: RunningPod, chunk: Buffer): void {
    p.log += chunk.toString('utf8');
    if (p.log.length > LOG_LIMIT) p.log = p.log.slice(p.log.length - LOG_LIMIT);
  }

  private spawnAgent(p: RunningPod, c: Obj): void {
    const pod = this.reg.tryGet(this.POD, p.ns, p.name);
    if (!pod || pod.metadata.uid !== p.uid || p.terminating || this.stopping) {
      p.markExited();
      return;
    }
    const sa = pod.spec?.serviceAccountName ?? 'default';
    const kubeconfig = join(p.dir!, 'kubeconfig');
    writeFileSync(kubeconfig, this.o.kubeconfigFor(p.ns, sa), { mode: 0o600 });
    const env = {
      ...process.env,
      ...this.resolveEnv(pod, c),
      KUBECONFIG: kubeconfig,
      POD_IP: '127.0.0.1',
      KUBEVIRTBMC_SIM_PORT_MAP: JSON.stringify(p.portMap),
    };
    const [cmd, ...base] = this.o.agentCommand;
    const child = spawn(cmd!, [...base, ...(c.args ?? []).map(String)], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    p.child = child;
    child.stdout?.on('data', (d: Buffer) => this.appendLog(p, d));
    child.stderr?.on('data', (d: Buffer) => this.appendLog(p, d));
    child.on('error', (err) =>
      this.appendLog(p, Buffer.from(`kubelet: cannot start ${cmd}: ${err.message}\n`)),
    );
    child.on('spawn', () => {
      const probe = c.readinessProbe?.httpGet;
      if (!probe) this.setRunning(p, true);
      else {
        this.setRunning(p, false);
        this.pollReadiness(p, c, probe);
      }
    });
    child.on('close', (code, signal) => {
      if (p.readyTimer) clearTimeout(p.readyTimer);
      p.child = undefined;
      if (p.terminating || this.stopping) {
        p.markExited();
        return;
      }
      p.restarts++;
      const t = now();
      const terminated = {
        terminated: {
          exitCode: code ?? 137,
          ...(signal ? { signal: 0 } : {}),
          reason: code === 0 ? 'Completed' : 'Error',
          finishedAt: t,
        },
      };
      this.writeStatus(p, (cur) => {
        cur.status.conditions = (cur.status.conditions ?? []).map((x: Obj) =>
          x.type === 'Ready' || x.type === 'ContainersReady'
            ? { ...x, status: 'False', lastTransitionTime: t }
            : x,
        );
        cur.status.containerStatuses = this.containerStatuses(
          cur,
          p,
          { waiting: { reason: 'CrashLoopBackOff', message: `back-off restarting failed container` } },
          false,
          terminated,
        );
      });
      const fast = this.o.delays.podStep < 10;
      const backoff = Math.min((fast ? 50 : 10_000) * 2 ** (p.restarts - 1), fast ? 2000 : 300_000);
      p.restartTimer = setTimeout(() => this.spawnAgent(p, c), backoff);
    });
  }

  private pollReadiness(p: RunningPod, c: Obj, probe: Obj): void {
    let port: number | undefined;
    if (typeof probe.port === 'number') port = probe.port;
    else for (const cp of c.ports ?? []) if (cp.name === probe.port) port = cp.containerPort;
    const host = port !== undefined ? p.portMap[`${port}/TCP`] : undefined;
    const interval = this.o.delays.podStep < 10 ? 50 : 1000;
    const tick = () => {
      if (!p.child || p.terminating) return;
      if (host === undefined) {
        p.readyTimer = setTimeout(tick, interval);
        return;
      }
      const req = request(
        { host: '127.0.0.1', port: host, path: probe.path ?? '/', method: 'GET', timeout: 1000 },
        (res) => {
          res.resume();
          const ok = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400;
          if (ok !== p.ready) this.setRunning(p, ok);
          p.readyTimer = setTimeout(tick, ok ? interval * 10 : interval);
        },
      );
      req.on('error', () => {
        if (p.ready) this.setRunning(p, false);
        p.readyTimer = setTimeout(tick, interval);
      });
      req.on('timeout', () => req.destroy());
      req.end();
    };
    tick();
  }

  private terminate(p: RunningPod, graceSeconds: number): void {
    p.terminating = true;
    if (p.readyTimer) clearTimeout(p.readyTimer);
    if (p.restartTimer) clearTimeout(p.restartTimer);
    const finish = () => {
      if (p.killTimer) clearTimeout(p.killTimer);
      this.pods.delete(p.uid);
      if (p.dir) rmSync(p.dir, { recursive: true, force: true });
      const cur = this.reg.store.peek('/pods', p.ns, p.name);
      if (cur && cur.metadata.uid === p.uid && cur.metadata.deletionTimestamp)
        this.reg.forceRemove(this.POD, p.ns, p.name);
    };
    if (p.child) {
      p.child.kill('SIGTERM');
      p.killTimer = setTimeout(() => p.child?.kill('SIGKILL'), Math.max(0, graceSeconds) * 1000);
    } else p.markExited();
    void p.exited.then(finish);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.unsubscribe();
    const all = [...this.pods.values()];
    for (const p of all) {
      p.terminating = true;
      if (p.readyTimer) clearTimeout(p.readyTimer);
      if (p.restartTimer) clearTimeout(p.restartTimer);
      if (p.child) {
        p.child.kill('SIGTERM');
        p.killTimer = setTimeout(() => p.child?.kill('SIGKILL'), 2000);
      } else p.markExited();
    }
    await Promise.all(all.map((p) => p.exited));
    for (const p of all) {
      if (p.killTimer) clearTimeout(p.killTimer);
      if (p.dir) rmSync(p.dir, { recursive: true, force: true });
    }
    this.pods.clear();
  }
}
