/**
 * The embedded cluster: a Kubernetes-API-compatible server on 127.0.0.1 with simulated KubeVirt
 * and CDI, a deployment controller, services, a kubelet that runs the agent image, and faults.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GarbageCollector } from './controllers/gc.ts';
import { KubeletSim } from './controllers/kubelet.ts';
import { WorkloadControllers } from './controllers/workloads.ts';
import { ApiError, badRequest, invalid } from './errors.ts';
import { EventRecorder } from './events.ts';
import { kubeconfigYaml } from './kubeconfig.ts';
import { installKubeVirtAdmission } from './kubevirt/admission.ts';
import { KubeVirtSim } from './kubevirt/controller.ts';
import { KUBEVIRT_CRDS, SUBRESOURCE_GROUP } from './kubevirt/crds.ts';
import { KubeVirtApi } from './kubevirt/subresources.ts';
import { authorizeRbac, checkEscalation } from './rbac.ts';
import { Registry } from './registry.ts';
import { ApiServer, type RequestInfo, type User } from './server.ts';
import type { Obj } from './store.ts';
import { delaysFor, Scheduler } from './timing.ts';
import { selfSignedCert } from './tls.ts';
import { API_AUDIENCE, AUTHENTICATION_GROUP, TokenIssuer } from './tokens.ts';

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

const REPO_ROOT = fileURLToPath(new URL('../../../..', import.meta.url));

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
  const tls = selfSignedCert();
  const adminToken = `sim-admin-${randomBytes(24).toString('hex')}`;
  const saTokens = new Map<string, { namespace: string; name: string }>();
  const issuer = new TokenIssuer(reg);
  const users = (token: string | undefined): User | undefined => {
    // no credentials: the anonymous user, whom RBAC then refuses nearly everything
    if (!token) return { name: 'system:anonymous', groups: ['system:unauthenticated'], admin: false };
    if (sameToken(token, adminToken))
      return {
        name: 'kubernetes-admin',
        uid: 'kubernetes-admin',
        groups: ['system:masters', 'system:authenticated'],
        admin: true,
      };
    const bound = issuer.authenticate(token);
    const sa = saTokens.get(token) ?? bound;
    if (sa) {
      // the token stops working when its ServiceAccount is deleted
      const saObj = reg.store.peek('/serviceaccounts', sa.namespace, sa.name);
      if (!saObj) return undefined;
      return {
        name: `system:serviceaccount:${sa.namespace}:${sa.name}`,
        uid: saObj.metadata.uid,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${sa.namespace}`, 'system:authenticated'],
        ...(bound ? { extra: { 'authentication.kubernetes.io/credential-id': [`JTI=${bound.jti}`] } } : {}),
        admin: false,
      };
    }
    return undefined;
  };
  /** authentication.k8s.io/v1: who am I (SelfSubjectReview) and TokenReview. */
  const authentication = async (
    _req: IncomingMessage,
    res: ServerResponse,
    info: RequestInfo,
    body: Buffer,
    user: User,
  ): Promise<void> => {
    const send = (code: number, obj: unknown) => {
      const text = JSON.stringify(obj);
      res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
    };
    const userInfo = (u: User) => ({
      username: u.name,
      ...(u.uid ? { uid: u.uid } : {}),
      groups: u.groups,
      ...(u.extra ? { extra: u.extra } : {}),
    });
    const created = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    if (
      info.method !== 'POST' ||
      info.name ||
      !['selfsubjectreviews', 'tokenreviews'].includes(info.resource ?? '')
    )
      throw new ApiError(
        405,
        'MethodNotAllowed',
        'the server does not allow this method on the requested resource',
        {},
      );
    if (info.resource === 'selfsubjectreviews') {
      send(201, {
        kind: 'SelfSubjectReview',
        apiVersion: 'authentication.k8s.io/v1',
        metadata: { creationTimestamp: created },
        status: { userInfo: userInfo(user) },
      });
      return;
    }
    let review: Obj;
    try {
      review = JSON.parse(body.toString('utf8') || '{}');
    } catch {
      throw badRequest('the object provided is unrecognized');
    }
    const token = String(review.spec?.token ?? '');
    const audiences: string[] = review.spec?.audiences?.length ? review.spec.audiences : [API_AUDIENCE];
    const who = token ? users(token) : undefined;
    const ok = who && who.name !== 'system:anonymous' ? who : undefined;
    const matched = token ? issuer.authenticate(token, audiences) : undefined;
    send(201, {
      kind: 'TokenReview',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { creationTimestamp: created },
      spec: review.spec ?? {},
      status: ok
        ? { authenticated: true, user: userInfo(ok), audiences: matched?.audiences ?? audiences }
        : { user: {}, error: 'invalid bearer token' },
    });
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

  // PersistentVolumeClaims: Pending until bound, Filesystem by default, and the
  // StorageObjectInUseProtection admission plugin's finalizer (the GC plays pvc-protection).
  reg.addDefaulter('', 'persistentvolumeclaims', (pvc, old) => {
    if (old) return;
    pvc.spec = { ...(pvc.spec ?? {}) };
    pvc.spec.volumeMode ??= 'Filesystem';
    pvc.status ??= { phase: 'Pending' };
    const fins: string[] = pvc.metadata.finalizers ?? [];
    if (!fins.includes('kubernetes.io/pvc-protection'))
      pvc.metadata.finalizers = [...fins, 'kubernetes.io/pvc-protection'];
  });

  // core Events: a zero eventTime is null on the wire, and the involved object lives in the
  // Event's namespace (upstream's validation)
  reg.addDefaulter('', 'events', (ev) => {
    if (ev.eventTime === undefined) ev.eventTime = null;
  });
  reg.addAdmission('', 'events', ({ obj }) => {
    const ref = obj.involvedObject?.namespace;
    if (ref !== undefined && ref !== '' && ref !== obj.metadata.namespace)
      throw invalid('', 'Event', obj.metadata.name, [
        {
          type: 'FieldValueInvalid',
          field: 'involvedObject.namespace',
          detail: `Invalid value: ${JSON.stringify(ref)}: does not match event.namespace`,
        },
      ]);
  });

  // Namespaces: the strategy makes a new one Active with the kubernetes finalizer, and admission
  // keeps the kubernetes.io/metadata.name label equal to the name on every write.
  reg.addDefaulter('', 'namespaces', (ns, old) => {
    ns.metadata.labels = { ...(ns.metadata.labels ?? {}), 'kubernetes.io/metadata.name': ns.metadata.name };
    if (!old) {
      ns.spec = { ...(ns.spec ?? {}) };
      ns.spec.finalizers ??= ['kubernetes'];
      ns.status = { phase: 'Active' };
    }
  });

  // RBAC's escalation checks on roles and bindings written by non-admin users
  reg.addUserGuard((t, obj, user) => checkEscalation(reg, t, obj, user));

  // bootstrap objects
  const NS = reg.type('', 'namespaces');
  const SA = reg.type('', 'serviceaccounts');
  const CM = reg.type('', 'configmaps');
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
        // the root-ca-cert-publisher: every namespace gets the CA that signed the serving certificate
        try {
          reg.create(
            CM,
            e.obj.metadata.name,
            {
              metadata: {
                name: 'kube-root-ca.crt',
                annotations: {
                  'kubernetes.io/description':
                    'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.',
                },
              },
              data: { 'ca.crt': tls.cert },
            },
            { internal: true },
          );
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
    extraGroups: () => [SUBRESOURCE_GROUP, AUTHENTICATION_GROUP],
    podLog: (ns, name, q) => kubelet.logs(ns, name, q),
    tokenRequest: (ns, name, body) => issuer.request(ns, name, body),
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
  api.addGroupHandler('authentication.k8s.io', authentication);
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
