/**
 * The cluster a test runs on: the real control plane (kube-apiserver, etcd, controller-manager and
 * scheduler built by `npm run control-plane`, with our fake node and fake KubeVirt) whenever it is
 * built, else the embedded cluster. Under CI=true an unbuilt control plane is a failure.
 * KUBEVIRTBMC_TEST_CLUSTER=embedded|real forces one.
 */

import {
  type SimCluster,
  type SimClusterOptions,
  startSimCluster,
} from '../../packages/kube-sim/src/embedded/index.ts';
import {
  BUILD_HINT,
  controlPlaneBinaries,
  type RealCluster,
  type RealClusterOptions,
  startRealCluster,
} from '../../packages/kube-sim/src/fakecluster/index.ts';

export type EmbeddedCluster = SimCluster & { readonly kind: 'embedded' };
export type TestCluster = RealCluster | EmbeddedCluster;

export type ClusterOptions = Pick<SimClusterOptions, 'timing' | 'agentCommand'> &
  Pick<RealClusterOptions, 'logger'>;

/** Which cluster tests get: 'real' when built (or forced), else 'embedded'. Throws under CI without it. */
export function clusterKind(): 'real' | 'embedded' {
  const forced = process.env.KUBEVIRTBMC_TEST_CLUSTER;
  if (forced === 'embedded') return 'embedded';
  const built = controlPlaneBinaries() !== undefined;
  if (forced === 'real' || process.env.CI === 'true') {
    if (!built) throw new Error(`${BUILD_HINT} (CI=true or KUBEVIRTBMC_TEST_CLUSTER=real needs it)`);
    return 'real';
  }
  return built ? 'real' : 'embedded';
}

let told = false;
export async function startCluster(options: ClusterOptions = {}): Promise<TestCluster> {
  const kind = clusterKind();
  if (kind === 'real') return startRealCluster({ timing: options.timing ?? 'fast', ...options });
  if (!told) {
    told = true;
    const why =
      process.env.KUBEVIRTBMC_TEST_CLUSTER === 'embedded' ? 'KUBEVIRTBMC_TEST_CLUSTER=embedded' : BUILD_HINT;
    process.stderr.write(`# running on the embedded cluster (${why})\n`);
  }
  const sim = await startSimCluster({ timing: options.timing ?? 'fast', ...options });
  return Object.assign(sim, { kind: 'embedded' as const });
}

/** For tests that only mean something on the real control plane: skipped (with the hint) when unbuilt, failed under CI. */
export function realOnly(): { skip: string | false } {
  return { skip: clusterKind() === 'real' ? false : BUILD_HINT };
}

/**
 * How long a test waits for garbage collection. kube-controller-manager's collector learns the
 * types of CRDs created after it started only at its discovery resync (every 30 s), so an object
 * owned by a custom resource of a CRD a test has just installed can wait that long.
 */
export const GC_TIMEOUT_MS = 60_000;
