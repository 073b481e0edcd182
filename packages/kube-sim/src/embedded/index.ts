/**
 * The embedded cluster: a Kubernetes-API-compatible server on 127.0.0.1 with the control plane's
 * controllers it needs in-process (deployments, services and endpoints, garbage collection, a PV
 * binder, nodes, a pod binder standing for kube-scheduler) and faults. The node and KubeVirt with
 * CDI are the fake components of the real-control-plane cluster (packages/kube-sim/src/fakecluster:
 * kubelet/ and kubevirt/), run as clients of this server over loopback with identities it issues
 * them, and virt-api's subresources are mounted here over the fake KubeVirt.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { logQuery, startFakeNode } from '../fakecluster/kubelet/index.ts';
import { startKubeVirtControllers } from '../fakecluster/kubevirt/index.ts';
import { KUBEVIRT_CR_CRD, kubeVirtCrSpec } from '../fakecluster/kubevirt/install.ts';
import { INSTANCETYPE_CRDS } from '../fakecluster/kubevirt/instancetype.ts';
import { GarbageCollector } from './controllers/gc.ts';
import { NodeController } from './controllers/nodes.ts';
import { bindPod, PodBinder } from './controllers/scheduler.ts';
import { VolumeBinder } from './controllers/volumes.ts';
import { WorkloadControllers } from './controllers/workloads.ts';
import { ApiError, badRequest, invalid } from './errors.ts';
import { EventRecorder } from './events.ts';
import { kubeconfigYaml } from './kubeconfig.ts';
import { installKubeVirtAdmission } from './kubevirt/admission.ts';
import { KUBEVIRT_CRDS, SUBRESOURCE_GROUP } from './kubevirt/crds.ts';
import { KubeVirtApi } from './kubevirt/subresources.ts';
import { authorizeRbac, checkEscalation } from './rbac.ts';
import { Registry } from './registry.ts';
import { ApiServer, type RequestInfo, type RequestRecord, type User } from './server.ts';
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
  /** Log lines of the fake node and the fake KubeVirt and CDI controllers (default: none). */
  logger?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
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
    /** The default StorageClass the fake CDI sees (null: the cluster has none). */
    setDefaultStorageClass(name: string | null): void;
  };
  readonly stats: {
    requests(): ReadonlyArray<RequestRecord>;
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

/** The embedded cluster's one node (the fake node run against it). */
export const NODE_NAME = 'sim-node-1';

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
  // The credentials of the fake components run against this server (the fake KubeVirt and CDI,
  // the fake node): administrators, and components of the cluster, whose requests pass the fault
  // layer as the fake components on the real control plane reach kube-apiserver without the fault
  // proxy.
  const components = new Map<string, User>();
  const componentToken = (name: string): string => {
    const token = `sim-${name.replace(/[^a-z0-9]+/g, '-')}-${randomBytes(24).toString('hex')}`;
    components.set(token, {
      name,
      uid: name,
      groups: ['system:masters', 'system:authenticated'],
      admin: true,
      component: true,
    });
    return token;
  };
  const kubevirtToken = componentToken('fake-kubevirt');
  const nodeToken = componentToken(`system:node:${NODE_NAME}`);
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
    const component = components.get(token);
    if (component) return component;
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
  for (const c of [...KUBEVIRT_CRDS, KUBEVIRT_CR_CRD, ...INSTANCETYPE_CRDS]) {
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
  // the KubeVirt CR, as KubeVirt's operator leaves it: its feature gates drive the fake's webhooks
  // and virt-controller (fakecluster/kubevirt/feature-gates.ts)
  const KV = reg.lookup('kubevirt.io', 'v1', 'kubevirts');
  if (KV)
    reg.create(
      KV,
      'kubevirt',
      {
        apiVersion: 'kubevirt.io/v1',
        kind: 'KubeVirt',
        metadata: { name: 'kubevirt' },
        spec: kubeVirtCrSpec(),
      },
      { internal: true },
    );
  installKubeVirtAdmission(reg);

  const gc = new GarbageCollector(reg, sched);
  const events = new EventRecorder(reg);
  const volumes = new VolumeBinder(reg, sched);
  const nodes = new NodeController(reg, sched);
  const binder = new PodBinder(reg, sched, delays, events);
  let serverUrl = '';
  let httpsUrl = '';
  const workloads = new WorkloadControllers(reg, sched, delays, events);
  let node: Awaited<ReturnType<typeof startFakeNode>> | undefined;

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
    // kube-apiserver asks the pod's kubelet; this server asks its one node in-process
    podLog: (ns, name, q) =>
      node?.logs(ns, name, {
        ...logQuery(q),
        ...(q.get('container') ? { container: q.get('container')! } : {}),
      }),
    tokenRequest: (ns, name, body) => issuer.request(ns, name, body),
    podBinding: (ns, name, body) => bindPod(reg, ns, name, body),
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
  api.addGroupHandler('authentication.k8s.io', authentication);

  const VMI = reg.type('kubevirt.io', 'virtualmachineinstances');
  const guestExit = (namespace: string, name: string, phase: 'Succeeded' | 'Failed') => {
    const vmi = reg.tryGet(VMI, namespace, name);
    if (!vmi) throw badRequest(`no VMI ${namespace}/${name}`);
    if (vmi.status?.phase !== 'Running') throw badRequest(`VMI ${namespace}/${name} is not running`);
    kubevirt.controller.guestExit(vmi, phase);
  };

  const port = await api.listen(options.port ?? 0);
  serverUrl = `http://127.0.0.1:${port}`;
  httpsUrl = `https://127.0.0.1:${port}`;
  // The fake node and the fake KubeVirt and CDI controllers of the real-control-plane cluster,
  // clients of this server (plain HTTP over loopback: their connections are not the clients' TLS
  // connections that `stats.connections()` lists); the node's pods get this server's HTTPS URL.
  const logger = options.logger ? { logger: options.logger } : {};
  const started = await Promise.allSettled([
    startKubeVirtControllers({
      connection: { server: serverUrl, token: kubevirtToken },
      timing,
      nodeName: NODE_NAME,
      ...logger,
    }),
    startFakeNode({
      connection: { server: serverUrl, token: nodeToken },
      nodeName: NODE_NAME,
      agentCommand: options.agentCommand ?? [process.execPath, join(REPO_ROOT, 'bin', 'kubevirtbmc.js')],
      apiServerUrlForPods: httpsUrl,
      apiServerCaForPods: tls.cert,
      timing,
      ...logger,
    }),
  ]);
  if (started[0].status === 'rejected' || started[1].status === 'rejected') {
    if (started[0].status === 'fulfilled') await started[0].value.stop();
    if (started[1].status === 'fulfilled') await started[1].value.stop();
    for (const c of [sched, gc, volumes, nodes, binder]) c.stop();
    await api.close();
    throw started[0].status === 'rejected' ? started[0].reason : (started[1] as PromiseRejectedResult).reason;
  }
  const kubevirt = started[0].value;
  node = started[1].value;
  const theNode = node;
  const kubevirtApi = new KubeVirtApi(kubevirt.controller);
  api.addGroupHandler('subresources.kubevirt.io', kubevirtApi.handle);
  api.addUpgradeHandler('subresources.kubevirt.io', kubevirtApi.upgrade);
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
      setDefaultStorageClass: (name: string | null) => {
        kubevirt.controller.defaultStorageClass = name;
      },
    },
    stats: {
      requests: () => api.requests(),
      connections: () => api.connections(),
      reset: () => api.resetStats(),
    },
    serviceEndpoints: (namespace, name) => theNode.serviceEndpoints(namespace, name),
    consoleTranscript: (namespace, name) => kubevirt.controller.guests.transcript(namespace, name),
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
      await theNode.stop();
      await kubevirt.stop();
      kubevirtApi.close();
      for (const c of [sched, gc, volumes, nodes, binder, workloads]) c.stop();
      await api.close();
      if (tmpDir) await rm(tmpDir, { recursive: true, force: true });
    },
  };
}
