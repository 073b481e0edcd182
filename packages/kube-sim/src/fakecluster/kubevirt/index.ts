/**
 * The fake KubeVirt and CDI for any Kubernetes API server (the real kube-apiserver of
 * packages/kube-sim/src/fakecluster/controlplane.ts in the tests): CRDs and the KubeVirt CR, the VM/VMI controller
 * and virt-handler's guests with serial consoles, the CDI importer (with PersistentVolumes the
 * real PV binder binds), KubeVirt's and CDI's validating webhooks, and virt-api's
 * `subresources.kubevirt.io` as an aggregated API server behind the real API server's
 * authentication, RBAC and aggregation proxy. It talks to the API server only through src/kube.
 */
import { KubeClient } from '../../../../../src/kube/client.ts';
import { KubeConfigAccess } from '../../../../../src/kube/config.ts';
import { delaysFor } from '../../embedded/timing.ts';
import { selfSignedCert } from '../../embedded/tls.ts';
import { type Connection, tokenAccess } from '../access.ts';
import { KubeVirtController, type Logger } from './controller.ts';
import {
  installCrds,
  installKubeVirtCr,
  KUBEVIRT_NAMESPACE,
  registerAggregatedApi,
  registerWebhooks,
  unregister,
  VIRT_API_SERVICE,
} from './install.ts';
import { type FrontProxy, startVirtApiServer, type VirtApiRequest } from './server.ts';
import { VirtApi } from './virt-api.ts';

export { reviewAdmission } from './admission.ts';
export type { KubeVirtController } from './controller.ts';
export type { FrontProxy, VirtApiRequest } from './server.ts';
export { VirtApi, type VirtApiBackend } from './virt-api.ts';

export interface FakeKubeVirtOptions {
  /** Credentials of the fake components (they write CRDs, APIServices, webhooks, PVs: an admin). */
  kubeconfigPath: string;
  /** The API server's front proxy (ControlPlane.frontProxy): who may call the aggregated API. */
  frontProxy: FrontProxy;
  /** fast (default): ~1 ms steps; realistic: 0.7 s per VMI phase, visible import progress. */
  timing?: 'fast' | 'realistic';
  logger?: Logger;
  /** The node VMIs report running on (default `fake-node-1`, the fake kubelet's node). */
  nodeName?: string;
  /** How long to wait for CRDs and the APIServices (default 60 s). */
  timeoutMs?: number;
}

export interface FakeKubeVirt {
  /** The fake virt-api's port on 127.0.0.1. */
  readonly port: number;
  /**
   * The serial console transcript of the latest guest of that VMI name ('' when none): everything it
   * printed, as KubeVirt's `guest-console-log` container keeps it. Console connections get live output only.
   */
  consoleTranscript(namespace: string, name: string): string;
  /** Makes a running guest stop by itself: a shutdown from inside (Succeeded) or a crash (Failed). */
  guestExit(namespace: string, name: string, phase: 'Succeeded' | 'Failed'): void;
  /** The default StorageClass the fake CDI sees (null: the cluster has none; default `fake-cdi-local`). */
  setDefaultStorageClass(name: string | null): void;
  /** The requests the fake virt-api served (webhook calls and aggregated requests with their user). */
  requests(): readonly VirtApiRequest[];
  /** Stops the controllers and virt-api; removes the webhooks and APIServices. */
  stop(): Promise<void>;
}

export async function startFakeKubeVirt(options: FakeKubeVirtOptions): Promise<FakeKubeVirt> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const client = new KubeClient(KubeConfigAccess.load(options.kubeconfigPath), 'fake-kubevirt');
  const controller = new KubeVirtController({
    client,
    delays: delaysFor(options.timing ?? 'fast'),
    nodeName: options.nodeName ?? 'fake-node-1',
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const api = new VirtApi(controller);
  const tls = selfSignedCert('virt-api', [
    `${VIRT_API_SERVICE}.${KUBEVIRT_NAMESPACE}.svc`,
    `${VIRT_API_SERVICE}.${KUBEVIRT_NAMESPACE}.svc.cluster.local`,
  ]);
  const server = await startVirtApiServer({
    cert: tls.cert,
    key: tls.key,
    frontProxy: options.frontProxy,
    api,
    gates: () => controller.featureGates(),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await unregister(client);
    await controller.stop();
    api.close();
    await server.close();
    client.close();
  };
  try {
    const reg = { port: server.port, caBundle: tls.cert };
    await installCrds(client, timeoutMs);
    await installKubeVirtCr(client);
    await registerWebhooks(client, reg);
    await controller.start();
    await registerAggregatedApi(client, reg, timeoutMs);
  } catch (err) {
    await stop();
    throw err;
  }
  options.logger?.info({ port: server.port }, 'fake KubeVirt and CDI started');
  return {
    port: server.port,
    consoleTranscript: (namespace, name) => controller.guests.transcript(namespace, name),
    setDefaultStorageClass: (name) => {
      controller.defaultStorageClass = name;
    },
    guestExit: (namespace, name, phase) => {
      controller.guestExitByName(namespace, name, phase);
    },
    requests: () => server.requests(),
    stop,
  };
}

export interface KubeVirtControllersOptions {
  /** The API server, with a token of an identity allowed what virt-controller, virt-handler and CDI do. */
  connection: Connection;
  timing?: 'fast' | 'realistic';
  /** The node VMIs report running on. */
  nodeName: string;
  logger?: Logger;
}

export interface KubeVirtControllers {
  /** The controllers, which are also virt-api's backend (`new VirtApi(controller)`). */
  readonly controller: KubeVirtController;
  stop(): Promise<void>;
}

/**
 * Only the fake KubeVirt's and CDI's controllers (VMs, VMIs and their guests, DataVolumes), as a
 * client of an API server that itself serves KubeVirt's and CDI's CRDs, admission and
 * `subresources.kubevirt.io` (the embedded cluster, which mounts `VirtApi` over the returned
 * controller): nothing is installed. Resolves once the controllers' caches are filled.
 */
export async function startKubeVirtControllers(
  options: KubeVirtControllersOptions,
): Promise<KubeVirtControllers> {
  const client = new KubeClient(tokenAccess(options.connection), 'fake-kubevirt');
  const controller = new KubeVirtController({
    client,
    delays: delaysFor(options.timing ?? 'fast'),
    nodeName: options.nodeName,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const stop = async () => {
    await controller.stop();
    client.close();
  };
  try {
    await controller.start();
  } catch (err) {
    await stop();
    throw err;
  }
  return { controller, stop };
}
