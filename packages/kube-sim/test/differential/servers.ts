/**
 * The two servers of the differential suite: the embedded one (packages/kube-sim/src/embedded) and the real kube-apiserver
 * with its controller-manager and scheduler (packages/kube-sim/src/fakecluster/controlplane), each with the Widget CRD
 * of test/support/sim-fixtures.ts installed and served.
 */

import { WIDGET_CRD } from '../../../../test/support/sim-fixtures.ts';
import { startSimCluster } from '../../src/embedded/index.ts';
import { BUILD_HINT, controlPlaneBinaries } from '../../src/fakecluster/controlplane/binaries.ts';
import { startControlPlane } from '../../src/fakecluster/controlplane.ts';
import { startFakeKubeVirt } from '../../src/fakecluster/kubevirt/index.ts';
import { type Api, makeApi } from './api.ts';
import { ok, poll } from './lib.ts';

export interface Servers {
  embedded: Api;
  /** Undefined when the real control plane is not built (see `realSkipReason`). */
  real: Api | undefined;
  stop(): Promise<void>;
}

/** Why the real half does not run, or undefined when it does. Under CI=true its absence is an error. */
export function realSkipReason(): string | undefined {
  if (controlPlaneBinaries()) return undefined;
  return `${BUILD_HINT}; the differential suite runs the embedded half only`;
}

async function installWidgets(api: Api): Promise<void> {
  const r = await api.post('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', WIDGET_CRD);
  if (r.status !== 409) ok(r, `${api.kind}: create the Widget CRD`);
  const served = await poll(
    async () => {
      const crd = await api.get(
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${WIDGET_CRD.metadata.name}`,
      );
      const established = (crd.json?.status?.conditions ?? []).some(
        (c: { type: string; status: string }) => c.type === 'Established' && c.status === 'True',
      );
      if (!established) return false;
      const disc = await api.get('/apis/test.kubevirtbmc.io/v1');
      if (disc.status !== 200) return false;
      return (await api.get('/apis/test.kubevirtbmc.io/v1/widgets')).status === 200;
    },
    30_000,
    100,
  );
  if (!served) throw new Error(`${api.kind}: the Widget CRD was not served within 30 s`);
}

/**
 * Until the garbage collector collects a ConfigMap owned by a deleted Widget: started in the
 * background so the other checks run meanwhile.
 */
async function warmUpGc(api: Api): Promise<void> {
  const ns = 'gc-warmup';
  await api.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const deadline = Date.now() + 90_000;
  for (let i = 0; Date.now() < deadline; i++) {
    const owner = ok(
      await api.post(`/apis/test.kubevirtbmc.io/v1/namespaces/${ns}/widgets`, {
        apiVersion: 'test.kubevirtbmc.io/v1',
        kind: 'Widget',
        metadata: { name: `owner-${i}` },
        spec: { size: 1 },
      }),
      'warm-up owner',
    );
    const dep = `/api/v1/namespaces/${ns}/configmaps/dep-${i}`;
    ok(
      await api.post(`/api/v1/namespaces/${ns}/configmaps`, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: `dep-${i}`,
          ownerReferences: [
            {
              apiVersion: owner.apiVersion,
              kind: owner.kind,
              name: owner.metadata.name,
              uid: owner.metadata.uid,
            },
          ],
        },
      }),
      'warm-up dependent',
    );
    await api.del(`/apis/test.kubevirtbmc.io/v1/namespaces/${ns}/widgets/owner-${i}`);
    if (await poll(async () => (await api.get(dep)).status === 404, 3000, 200)) return;
  }
  throw new Error(`${api.kind}: the garbage collector did not collect Widget dependents within 90 s`);
}

export async function startServers(): Promise<Servers> {
  const withReal = realSkipReason() === undefined;
  const [sim, cp] = await Promise.all([
    startSimCluster({ timing: 'fast' }),
    withReal ? startControlPlane() : Promise.resolve(undefined),
  ]);
  // KubeVirt beside the real server (the embedded one has its own): virt-api's subresources and
  // console reach it through the aggregation layer
  let kubevirt: Awaited<ReturnType<typeof startFakeKubeVirt>> | undefined;
  const stop = async () => {
    await kubevirt?.stop();
    await Promise.all([sim.stop(), cp?.stop()]);
  };
  try {
    if (cp)
      kubevirt = await startFakeKubeVirt({
        kubeconfigPath: cp.kubeconfigPath,
        frontProxy: cp.frontProxy,
        timing: 'fast',
      });
    const embedded = makeApi('embedded', sim.kubeconfigPath, () => sim.faults.compact());
    const real = cp
      ? makeApi('real', cp.kubeconfigPath, async () => {
          await cp.compactEtcd();
        })
      : undefined;
    await Promise.all([installWidgets(embedded), real ? installWidgets(real) : undefined]);
    if (real) {
      real.gcReady = warmUpGc(real);
      // a failure shows in the checks that await it
      real.gcReady.catch(() => {});
    }
    return { embedded, real, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
