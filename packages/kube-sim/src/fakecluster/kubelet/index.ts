/**
 * The fake node, as kwok makes one but running agent pods as real local processes: a Node kept
 * Ready (node.ts), a kubelet for the pods the scheduler binds to it (kubelet.ts), its HTTPS API for
 * `kubectl logs` (kubelet-server.ts) and a service proxy publishing where Services are reachable on
 * 127.0.0.1 (service-proxy.ts). It speaks to the API server only through src/kube (our client and
 * informer), with the credentials of a kubeconfig, so it runs against the real kube-apiserver.
 * It needs TokenRequest (`serviceaccounts/token`), Nodes and Leases, and a scheduler binding pods
 * to it: kube-apiserver and kube-scheduler, or the embedded cluster (packages/kube-sim/src/embedded),
 * which runs this node against itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient } from '../../../../../src/kube/client.ts';
import { KubeConfigAccess } from '../../../../../src/kube/config.ts';
import { Informer } from '../../../../../src/kube/informer.ts';
import { type Connection, tokenAccess } from '../access.ts';
import { Kubelet } from './kubelet.ts';
import { type KubeletServer, startKubeletServer } from './kubelet-server.ts';
import type { LogQuery } from './logs.ts';
import { FakeNodeObject } from './node.ts';
import { ServiceProxy } from './service-proxy.ts';
import type { Logger, Pod } from './types.ts';

export { expand, parseQuantity, resolveEnv } from './env.ts';
export { logQuery } from './kubelet-server.ts';
export { endpointsOf } from './service-proxy.ts';
export { ENDPOINTS_ANNOTATION, HOST_PORTS_ANNOTATION } from './types.ts';

export const DEFAULT_NODE_NAME = 'fake-node-1';
export const DEFAULT_POD_CIDR = '10.88.0.0/16';
/** Large: the node does no resource accounting, and per-vm agents request 10m CPU and 64Mi each. */
export const DEFAULT_CAPACITY: Readonly<Record<string, string>> = {
  cpu: '128',
  memory: '512Gi',
  pods: '2000',
  'ephemeral-storage': '1Ti',
};

export interface FakeNodeOptions {
  /** Credentials the node uses (it needs to write Nodes, Leases, pods/status, serviceaccounts/token). */
  kubeconfigPath?: string;
  /** Or the server and a token of such an identity (how the embedded cluster starts its node). */
  connection?: Connection;
  nodeName?: string;
  /** The command standing for the agent image's entrypoint; the container's args follow it. */
  agentCommand: string[];
  /** The API server URL written into pods' kubeconfigs (default: the node's own). */
  apiServerUrlForPods?: string;
  /** PEM of the CA pods trust for it (default: the node's kubeconfig's CA). */
  apiServerCaForPods?: string;
  logger?: Logger;
  /** fast (default): quick readiness polls and restart backoff (50 ms-2 s); realistic: the kubelet's. */
  timing?: 'fast' | 'realistic';
  /** Pod IPs come from here (default 10.88.0.0/16); they are not reachable, see kubelet.ts. */
  podCIDR?: string;
  capacity?: Record<string, string>;
  /** Lease renewal interval (default 10 s). */
  leaseRenewMs?: number;
  /** Node status heartbeat interval (default 60 s). */
  statusReportMs?: number;
  /** Renew each pod's token after this many ms instead of at 80 % of its hour (for tests). */
  tokenRenewMs?: number;
}

export interface FakeNode {
  readonly nodeName: string;
  /** The kubelet API's port on 127.0.0.1 (0 when it could not start). */
  readonly kubeletPort: number;
  /** A container's output (default: the agent container, else the first); undefined when not running here. */
  logs(
    namespace: string,
    name: string,
    options?: LogQuery & { container?: string; previous?: boolean },
  ): string | undefined;
  /** The 127.0.0.1 port standing for a pod's container port, e.g. `hostPort(ns, pod, "623/UDP")`. */
  hostPort(namespace: string, name: string, key: string): number | undefined;
  /** What the service proxy computed for a Service (its `sim.kubevirtbmc.io/endpoints`). */
  serviceEndpoints(namespace: string, name: string): Record<string, string>;
  /** Stops every process and heartbeat; the Node and pods stay in the API as a dead kubelet leaves them. */
  stop(): Promise<void>;
}

export async function startFakeNode(options: FakeNodeOptions): Promise<FakeNode> {
  const nodeName = options.nodeName ?? DEFAULT_NODE_NAME;
  if (!options.kubeconfigPath && !options.connection)
    throw new Error('startFakeNode: kubeconfigPath or connection is needed');
  const access = options.connection
    ? tokenAccess(options.connection)
    : KubeConfigAccess.load(options.kubeconfigPath);
  const tlsOpts: { ca?: string | Buffer | Array<string | Buffer> } = {};
  await access.applyToHTTPSOptions(tlsOpts);
  const kubeCa = tlsOpts.ca === undefined ? undefined : [tlsOpts.ca].flat().map(String).join('\n');
  const client = new KubeClient(access, `kubevirtbmc-fake-kubelet/${nodeName}`);
  const dir = mkdtempSync(join(tmpdir(), `kubevirtbmc-node-${nodeName}-`));
  const podCIDR = options.podCIDR ?? DEFAULT_POD_CIDR;
  const capacity = { ...DEFAULT_CAPACITY, ...(options.capacity ?? {}) };
  const logger = options.logger;
  const cleanups: Array<() => Promise<void> | void> = [
    () => rmSync(dir, { recursive: true, force: true }),
    () => client.close(),
  ];
  const unwind = async () => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch (err) {
        logger?.warn({ node: nodeName, err: String(err) }, 'fake node: cleanup failed');
      }
    }
  };
  try {
    const pods = new Informer<Pod>(client, {
      path: '/api/v1/pods',
      fieldSelector: `spec.nodeName=${nodeName}`,
      ...(logger ? { logger } : {}),
    });
    const kubelet = new Kubelet({
      client,
      nodeName,
      pods,
      agentCommand: options.agentCommand,
      dir,
      podApi: {
        server: options.apiServerUrlForPods ?? access.server,
        ...(options.apiServerCaForPods
          ? { caPem: options.apiServerCaForPods }
          : kubeCa && !options.apiServerUrlForPods
            ? { caPem: kubeCa }
            : {}),
        skipTLSVerify: !options.apiServerUrlForPods && access.getCurrentCluster()?.skipTLSVerify === true,
      },
      podCIDR,
      allocatable: capacity,
      timing: options.timing ?? 'fast',
      ...(options.tokenRenewMs !== undefined ? { tokenRenewMs: options.tokenRenewMs } : {}),
      ...(logger ? { logger } : {}),
    });
    let server: KubeletServer | undefined;
    try {
      server = await startKubeletServer({ client, kubelet, nodeName, dir, ...(logger ? { logger } : {}) });
      const s = server;
      cleanups.push(() => s.close());
    } catch (err) {
      logger?.warn(
        { node: nodeName, err: String(err) },
        'fake node: no kubelet API (kubectl logs will not work)',
      );
    }
    const node = new FakeNodeObject({
      client,
      nodeName,
      kubeletPort: server?.port ?? 0,
      podCIDR,
      capacity,
      ...(options.leaseRenewMs !== undefined ? { leaseRenewMs: options.leaseRenewMs } : {}),
      ...(options.statusReportMs !== undefined ? { statusReportMs: options.statusReportMs } : {}),
      ...(logger ? { logger } : {}),
    });
    await node.register();
    cleanups.push(() => node.stop());
    const proxy = new ServiceProxy({
      client,
      pods,
      hostPort: (ns, name, key) => kubelet.hostPort(ns, name, key),
      ...(logger ? { logger } : {}),
    });
    kubelet.start();
    cleanups.push(() => kubelet.stop());
    await proxy.start();
    cleanups.push(() => proxy.stop());
    await pods.start();
    cleanups.push(() => pods.stop());
    let stopped = false;
    return {
      nodeName,
      kubeletPort: server?.port ?? 0,
      logs: (ns, name, q) => kubelet.logs(ns, name, q),
      hostPort: (ns, name, key) => kubelet.hostPort(ns, name, key),
      serviceEndpoints: (ns, name) => proxy.serviceEndpoints(ns, name),
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
