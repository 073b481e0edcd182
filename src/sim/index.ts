/**
 * The embedded cluster: a Kubernetes-API-compatible server on 127.0.0.1 with simulated KubeVirt
 * and CDI, a deployment controller, services, a kubelet that runs the agent image, and faults.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GarbageCollector } from './controllers/gc.ts';
import { KubeletSim } from './controllers/kubelet.ts';
import { WorkloadControllers } from './controllers/workloads.ts';
import { badRequest } from './errors.ts';
import { EventRecorder } from './events.ts';
import { kubeconfigYaml } from './kubeconfig.ts';
import { installKubeVirtAdmission } from './kubevirt/admission.ts';
import { KubeVirtSim } from './kubevirt/controller.ts';
import { KUBEVIRT_CRDS, SUBRESOURCE_GROUP } from './kubevirt/crds.ts';
import { KubeVirtApi } from './kubevirt/subresources.ts';
import { authorizeRbac } from './rbac.ts';
import { Registry } from './registry.ts';
import { ApiServer, type User } from './server.ts';
import type { Obj } from './store.ts';
import { delaysFor, Scheduler } from './timing.ts';
import { selfSignedCert } from './tls.ts';

export interface SimClusterOptions {
  port?: number;
  timing?: 'fast' | 'realistic';
  kubeconfigPath?: string;
  agentCommand?: string[];
  /** Interval of BOOKMARK events on watches that allow them (default 60 s realistic, 1 s fast). */
  bookmarkIntervalMs?: number;
  /** Server-side maximum watch duration in seconds (default 1800); 0 = unlimited. */
  maxWatchSeconds?: number;
  /**
   * HTTP/2 streams a client may have open on one TLS connection, as kube-apiserver's
   * `--http2-max-streams-per-connection` (default 100, kube-apiserver's own default since 1.29).
   */
  http2MaxStreamsPerConnection?: number;
  /** Log level for the sim's own diagnostics on stderr (default silent). */
  verbose?: boolean;
}

export interface SimCluster {
  readonly url: string;
  readonly kubeconfigPath: string;
  readonly faults: {
    dropWatches(): void;
    failNext(count: number, status: 410 | 429 | 500, match?: { path?: RegExp; method?: string }): void;
    setLatency(ms: number): void;
    restart(): Promise<void>;
    /** Drops the watch history: watches from older resourceVersions get 410 Expired. */
    compact(): void;
    /** Makes a running guest stop by itself: shutdown from inside (Succeeded) or a crash (Failed). */
    guestExit(namespace: string, name: string, phase: 'Succeeded' | 'Failed'): void;
  };
  readonly stats: {
    requests(): ReadonlyArray<{
      method: string;
      path: string;
      verb: string;
      status: number;
      userAgent?: string;
      user: string;
    }>;
    /** TLS connections accepted, each with the protocol ALPN chose (`h2` or `http/1.1`). */
    connections(): ReadonlyArray<{ alpn: string }>;
    reset(): void;
  };
  serviceEndpoints(namespace: string, name: string): Record<string, string>;
  /** Serial console transcript of the latest guest of that VMI name (kept after the VMI is gone). */
  consoleTranscript(namespace: string, name: string): string;
  /** A kubeconfig (YAML) holding a token for a ServiceAccount, as the kubelet gives agent pods. */
  serviceAccountKubeconfig(namespace: string, name: string): string;
  stop(): Promise<void>;
}

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export async function startSimCluster(options: SimClusterOptions = {}): Promise<SimCluster> {
  const timing = options.timing ?? 'fast';
  const delays = delaysFor(timing);
  const sched = new Scheduler();
  const reg = new Registry();
  const adminToken = `sim-admin-${randomBytes(24).toString('hex')}`;
  const saTokens = new Map<string, { namespace: string; name: string }>();
  const users = (token: string | undefined): User | undefined => {
    if (!token) return undefined;
    if (sameToken(token, adminToken))
      return { name: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'], admin: true };
    const sa = saTokens.get(token);
    if (sa) {
      // the token stops working when its ServiceAccount is deleted
      if (!reg.store.peek('/serviceaccounts', sa.namespace, sa.name)) return undefined;
      return {
        name: `system:serviceaccount:${sa.namespace}:${sa.name}`,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${sa.namespace}`, 'system:authenticated'],
        admin: false,
      };
    }
    return undefined;
  };
  const tokenFor = (namespace: string, name: string): string => {
    for (const [t, sa] of saTokens) if (sa.namespace === namespace && sa.name === name) return t;
    const t = `sim-sa-${randomBytes(24).toString('hex')}`;
    saTokens.set(t, { namespace, name });
    return t;
  };

  // Secrets: the API server folds write-only stringData into data (base64) and never stores it,
  // and a Secret without a type is Opaque (`kubectl create secret generic` sends none).
  reg.addDefaulter('', 'secrets', (secret) => {
    if (!secret.type) secret.type = 'Opaque';
    if (secret.stringData && typeof secret.stringData === 'object') {
      secret.data ??= {};
      for (const [k, v] of Object.entries(secret.stringData)) {
        secret.data[k] = Buffer.from(String(v), 'utf8').toString('base64');
      }
    }
    delete secret.stringData;
  });

  // bootstrap objects
  const NS = reg.type('', 'namespaces');
  const SA = reg.type('', 'serviceaccounts');
  const CRD = reg.type('apiextensions.k8s.io', 'customresourcedefinitions');
  reg.store.subscribe((e) => {
    // the ServiceAccount controller: every namespace gets a "default" ServiceAccount
    if (e.key === '/namespaces' && e.type === 'ADDED') {
      sched.soon(() => {
        try {
          reg.create(SA, e.obj.metadata.name, { metadata: { name: 'default' } }, { internal: true });
        } catch {
          // exists or namespace gone
        }
      });
    }
  });
  for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease', 'kubevirt', 'cdi']) {
    reg.create(
      NS,
      undefined,
      {
        metadata: { name: ns, labels: { 'kubernetes.io/metadata.name': ns } },
        spec: { finalizers: ['kubernetes'] },
        status: { phase: 'Active' },
      },
      { internal: true },
    );
  }
  reg.store.subscribe((e) => {
    if (e.key === '/namespaces' && e.type === 'ADDED' && !e.obj.status?.phase) {
      sched.soon(() => {
        const cur = reg.tryGet(NS, undefined, e.obj.metadata.name);
        if (!cur || cur.status?.phase) return;
        cur.status = { phase: 'Active' };
        cur.metadata.labels = {
          ...(cur.metadata.labels ?? {}),
          'kubernetes.io/metadata.name': cur.metadata.name,
        };
        try {
          reg.update(NS, undefined, cur.metadata.name, cur, { internal: true });
        } catch {
          // raced
        }
      });
    }
  });
  for (const c of KUBEVIRT_CRDS) {
    const created = reg.create(CRD, undefined, c, { internal: true });
    created.status = {
      acceptedNames: c.spec.names,
      storedVersions: c.spec.versions.map((v: Obj) => v.name),
      conditions: [
        { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found' },
        {
          type: 'Established',
          status: 'True',
          reason: 'InitialNamesAccepted',
          message: 'the initial names have been accepted',
        },
      ],
    };
    reg.update(CRD, undefined, c.metadata.name, created, { subresource: 'status', internal: true });
  }
  // CRDs applied by users become Established at once
  reg.store.subscribe((e) => {
    if (e.key !== 'apiextensions.k8s.io/customresourcedefinitions' || e.type === 'DELETED') return;
    if ((e.obj.status?.conditions ?? []).some((c: Obj) => c.type === 'Established')) return;
    sched.soon(() => {
      const cur = reg.tryGet(CRD, undefined, e.obj.metadata.name);
      if (!cur || (cur.status?.conditions ?? []).some((c: Obj) => c.type === 'Established')) return;
      cur.status = {
        acceptedNames: cur.spec.names,
        storedVersions: (cur.spec.versions ?? []).filter((v: Obj) => v.storage).map((v: Obj) => v.name),
        conditions: [
          {
            type: 'NamesAccepted',
            status: 'True',
            reason: 'NoConflicts',
            message: 'no conflicts found',
            lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
          },
          {
            type: 'Established',
            status: 'True',
            reason: 'InitialNamesAccepted',
            message: 'the initial names have been accepted',
            lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
          },
        ],
      };
      try {
        reg.update(CRD, undefined, cur.metadata.name, cur, { subresource: 'status', internal: true });
      } catch {
        // raced with a user write
      }
    });
  });
  installKubeVirtAdmission(reg);

  const gc = new GarbageCollector(reg, sched);
  const events = new EventRecorder(reg);
  const kubevirt = new KubeVirtSim(reg, sched, delays, events);
  const kubevirtApi = new KubeVirtApi(reg, kubevirt);
  let serverUrl = '';
  let httpsUrl = '';
  const kubelet = new KubeletSim(reg, sched, {
    agentCommand: options.agentCommand ?? [process.execPath, join(REPO_ROOT, 'bin', 'kubevirtbmc.js')],
    kubeconfigFor: (ns, sa) =>
      kubeconfigYaml(httpsUrl, tls.cert, `system:serviceaccount:${ns}:${sa}`, tokenFor(ns, sa), ns),
    delays,
  });
  const workloads = new WorkloadControllers(reg, sched, delays, kubelet, events);

  const tls = selfSignedCert();
  const api = new ApiServer({
    tls,
    registry: reg,
    authenticate: users,
    authorize: (user, info) => (user.admin ? undefined : authorizeRbac(reg, user, info)),
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? (timing === 'fast' ? 1000 : 60_000),
    maxWatchSeconds: options.maxWatchSeconds ?? 1800,
    ...(options.http2MaxStreamsPerConnection !== undefined
      ? { maxStreamsPerConnection: options.http2MaxStreamsPerConnection }
      : {}),
    extraGroups: () => [SUBRESOURCE_GROUP],
    podLog: (ns, name, q) => kubelet.logs(ns, name, q),
    faultControl: async (body: Obj) => {
      switch (body.action) {
        case 'dropWatches':
          api.dropWatches();
          return { ok: true };
        case 'failNext': {
          const status = Number(body.status);
          if (![410, 429, 500].includes(status)) throw badRequest('status must be 410, 429 or 500');
          const count = Number(body.count ?? 1);
          if (!Number.isInteger(count) || count < 1 || count > 10_000)
            throw badRequest('count must be an integer 1..10000');
          api.failNext(count, status as 410 | 429 | 500, {
            ...(body.path ? { path: new RegExp(String(body.path)) } : {}),
            ...(body.method ? { method: String(body.method) } : {}),
          });
          return { ok: true };
        }
        case 'setLatency': {
          const ms = Number(body.ms);
          if (!Number.isFinite(ms) || ms < 0 || ms > 60_000) throw badRequest('ms must be 0..60000');
          api.setLatency(ms);
          return { ok: true };
        }
        case 'restart':
          setTimeout(() => void api.restart(), 10);
          return { ok: true, restarting: true };
        case 'compact':
          reg.store.compact();
          return { ok: true, resourceVersion: String(reg.store.resourceVersion) };
        case 'guestExit':
          guestExit(
            String(body.namespace),
            String(body.name),
            body.phase === 'Failed' ? 'Failed' : 'Succeeded',
          );
          return { ok: true };
        default:
          throw badRequest(
            'action must be one of dropWatches, failNext, setLatency, restart, compact, guestExit',
          );
      }
    },
  });
  api.addGroupHandler('subresources.kubevirt.io', kubevirtApi.handle);
  api.addUpgradeHandler('subresources.kubevirt.io', kubevirtApi.upgrade);

  const guestExit = (namespace: string, name: string, phase: 'Succeeded' | 'Failed') => {
    const vmi = reg.tryGet(kubevirt.VMI, namespace, name);
    if (!vmi) throw badRequest(`no VMI ${namespace}/${name}`);
    if (vmi.status?.phase !== 'Running') throw badRequest(`VMI ${namespace}/${name} is not running`);
    kubevirt.guestExit(vmi, phase);
  };

  const port = await api.listen(options.port ?? 0);
  serverUrl = `http://127.0.0.1:${port}`;
  httpsUrl = `https://127.0.0.1:${port}`;
  let kubeconfigPath = options.kubeconfigPath;
  let tmpDir: string | undefined;
  if (!kubeconfigPath) {
    tmpDir = mkdtempSync(join(tmpdir(), 'kubevirtbmc-sim-'));
    kubeconfigPath = join(tmpDir, 'kubeconfig');
  }
  writeFileSync(kubeconfigPath, kubeconfigYaml(httpsUrl, tls.cert, 'admin', adminToken), { mode: 0o600 });
  workloads.start();

  let stopped = false;
  return {
    url: serverUrl,
    kubeconfigPath,
    faults: {
      dropWatches: () => api.dropWatches(),
      failNext: (count, status, match) => api.failNext(count, status, match),
      setLatency: (ms) => api.setLatency(ms),
      restart: () => api.restart(),
      compact: () => reg.store.compact(),
      guestExit,
    },
    stats: {
      requests: () => api.requests(),
      connections: () => api.connections(),
      reset: () => api.resetStats(),
    },
    serviceEndpoints: (namespace, name) => workloads.serviceEndpoints(namespace, name),
    consoleTranscript: (namespace, name) => {
      const uid = kubevirt.latestGuest.get(`${namespace}/${name}`);
      return (uid && kubevirt.guests.get(uid)?.console.transcript) || '';
    },
    serviceAccountKubeconfig: (namespace, name) =>
      kubeconfigYaml(
        httpsUrl,
        tls.cert,
        `system:serviceaccount:${namespace}:${name}`,
        tokenFor(namespace, name),
        namespace,
      ),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      sched.stop();
      gc.stop();
      kubevirt.stop();
      kubevirtApi.close();
      workloads.stop();
      await kubelet.stop();
      await api.close();
      if (tmpDir) await rm(tmpDir, { recursive: true, force: true });
    },
  };
}
