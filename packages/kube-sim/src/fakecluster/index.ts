/**
 * A whole test cluster on the real control plane: kube-apiserver, etcd, kube-controller-manager and
 * kube-scheduler (real), with our fake node (kubelet running agent pods as local processes), fake
 * KubeVirt and CDI, and a fault-injecting proxy in front of the API server that every client outside
 * the fake components goes through. It offers the same handle as the embedded cluster
 * (`startSimCluster`), so tests, the demo and `kubevirtbmc sim` run on either.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeClient } from '../../../../src/kube/client.ts';
import { KubeConfigAccess } from '../../../../src/kube/config.ts';
import { kubeconfigYaml } from '../embedded/kubeconfig.ts';
import { startControlPlane } from './controlplane/start.ts';
import type { ControlPlane } from './controlplane.ts';
import { type FaultProxy, type ProxiedRequest, startFaultProxy } from './fault-proxy.ts';
import { startFakeNode } from './kubelet/index.ts';
import { startFakeKubeVirt } from './kubevirt/index.ts';

export { BUILD_HINT, controlPlaneBinaries } from './controlplane/binaries.ts';

export interface RealClusterOptions {
  /** fast (near-zero delays in the fake components) or realistic (human-visible phases). */
  timing?: 'fast' | 'realistic';
  /** The command the fake kubelet runs for the agent image (default: this repository's bin). */
  agentCommand?: string[];
  /** Also write the admin kubeconfig (through the proxy) here. */
  kubeconfigPath?: string;
  /** The port clients use, the fault proxy's (default: a free one); kube-apiserver gets a free one. */
  port?: number;
  /** Log lines of the fake components (default: none). */
  logger?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export type RequestRecord = ProxiedRequest;

export interface RealCluster {
  readonly kind: 'real';
  /** The fault proxy's URL: what clients, tests and agents use. */
  readonly url: string;
  /** Admin kubeconfig pointing at the proxy. */
  readonly kubeconfigPath: string;
  readonly controlPlane: ControlPlane;
  readonly faults: {
    dropWatches(): void;
    failNext(count: number, status: 410 | 429 | 500, match?: { path?: RegExp; method?: string }): void;
    setLatency(ms: number): void;
    /** A real restart of kube-apiserver (clients see their connections drop). */
    restart(): Promise<void>;
    /** A real restart of etcd. */
    restartEtcd(): Promise<void>;
    /** Compacts etcd's history; watches resumed from before it get 410 Expired. */
    compact(): Promise<void>;
    guestExit(namespace: string, name: string, phase: 'Succeeded' | 'Failed'): void;
    /** The default StorageClass the fake CDI sees (null: the cluster has none). */
    setDefaultStorageClass(name: string | null): void;
  };
  readonly stats: {
    requests(): readonly RequestRecord[];
    connections(): ReadonlyArray<{ alpn: string }>;
    reset(): void;
  };
  serviceEndpoints(namespace: string, name: string): Record<string, string>;
  consoleTranscript(namespace: string, name: string): string;
  /** A kubeconfig (YAML) with a TokenRequest token of that ServiceAccount, through the proxy. */
  serviceAccountKubeconfig(namespace: string, name: string): Promise<string>;
  stop(): Promise<void>;
}

const REPO_ROOT = new URL('../../../..', import.meta.url).pathname;

export async function startRealCluster(options: RealClusterOptions = {}): Promise<RealCluster> {
  const cleanups: Array<() => Promise<void> | void> = [];
  const unwind = async () => {
    for (const c of cleanups.reverse()) await c();
  };
  // The fake KubeVirt installs its CRDs before the controller-manager starts, so the garbage
  // collector knows DataVolumes and VMs as owners from the start.
  let kubevirt: Awaited<ReturnType<typeof startFakeKubeVirt>> | undefined;
  const cp = await startControlPlane({
    beforeControllers: async (api) => {
      kubevirt = await startFakeKubeVirt({
        kubeconfigPath: api.kubeconfigPath,
        frontProxy: api.frontProxy,
        timing: options.timing ?? 'fast',
        ...(options.logger ? { logger: options.logger } : {}),
      });
    },
  }).catch(async (err) => {
    await kubevirt?.stop();
    throw err;
  });
  cleanups.push(() => cp.stop());
  try {
    if (!kubevirt) throw new Error('the fake KubeVirt did not start');
    cleanups.push(() => kubevirt!.stop());
    const admin = new KubeClient(KubeConfigAccess.load(cp.kubeconfigPath), 'kubevirtbmc-fakecluster');
    cleanups.push(() => admin.close());
    // Who sent each request, for the request log: a TokenReview per distinct token, asked once.
    const users = new Map<string, Promise<string | undefined>>();
    const identify = (authorization: string) => {
      const token = /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
      if (!token) return Promise.resolve(undefined);
      let who = users.get(token);
      if (!who) {
        who = admin
          .request<{ status?: { authenticated?: boolean; user?: { username?: string } } }>(
            'POST',
            '/apis/authentication.k8s.io/v1/tokenreviews',
            { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } },
          )
          .then((r) => (r.status?.authenticated ? r.status.user?.username : undefined));
        users.set(token, who);
      }
      return who;
    };
    const proxy: FaultProxy = await startFaultProxy({
      upstream: cp.url,
      upstreamCa: cp.caCert,
      identify,
      ...(options.port !== undefined ? { port: options.port } : {}),
    });
    cleanups.push(() => proxy.close());
    const kubeconfigPath = options.kubeconfigPath ?? join(cp.dir, 'proxy.kubeconfig');
    writeFileSync(
      kubeconfigPath,
      kubeconfigYaml(proxy.url, proxy.caCert, 'kubernetes-admin', cp.adminToken),
      {
        mode: 0o600,
      },
    );
    const node = await startFakeNode({
      kubeconfigPath: cp.kubeconfigPath,
      agentCommand: options.agentCommand ?? [process.execPath, join(REPO_ROOT, 'bin', 'kubevirtbmc.js')],
      apiServerUrlForPods: proxy.url,
      apiServerCaForPods: proxy.caCert,
      timing: options.timing ?? 'fast',
      ...(options.logger ? { logger: options.logger } : {}),
    });
    cleanups.push(() => node.stop());

    const tokenFor = async (namespace: string, name: string): Promise<string> => {
      const res = await admin.request<{ status: { token: string } }>(
        'POST',
        `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(name)}/token`,
        {
          body: {
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenRequest',
            spec: { expirationSeconds: 3600 },
          },
        },
      );
      return res.status.token;
    };

    let stopped = false;
    return {
      kind: 'real',
      url: proxy.url,
      kubeconfigPath,
      controlPlane: cp,
      faults: {
        dropWatches: () => proxy.dropWatches(),
        failNext: (count, status, match) => proxy.failNext(count, status, match),
        setLatency: (ms) => proxy.setLatency(ms),
        restart: async () => {
          await cp.restartApiServer();
        },
        restartEtcd: () => cp.restartEtcd(),
        compact: async () => {
          proxy.expireWatchesBelow(await cp.compactEtcd());
        },
        guestExit: (namespace, name, phase) => kubevirt!.guestExit(namespace, name, phase),
        setDefaultStorageClass: (name) => kubevirt!.setDefaultStorageClass(name),
      },
      stats: {
        requests: () => proxy.requests(),
        connections: () => proxy.connections(),
        reset: () => proxy.reset(),
      },
      serviceEndpoints: (namespace, name) => node.serviceEndpoints(namespace, name),
      consoleTranscript: (namespace, name) => kubevirt!.consoleTranscript(namespace, name),
      serviceAccountKubeconfig: async (namespace, name) =>
        kubeconfigYaml(
          proxy.url,
          proxy.caCert,
          `system:serviceaccount:${namespace}:${name}`,
          await tokenFor(namespace, name),
          namespace,
        ),
      stop: async () => {
        if (stopped) return;
        stopped = true;
        await unwind();
      },
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}
