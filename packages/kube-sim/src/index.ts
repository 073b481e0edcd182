/**
 * @kubevirtbmc/kube-sim: the clusters kubevirtbmc is tried and tested on, kept out of the product.
 *
 * - `startSimCluster`: the embedded Kubernetes-API-compatible server (Node only), running the
 *   fake node, KubeVirt and CDI below against itself.
 * - `startRealCluster`: kube-apiserver, etcd, controller-manager and scheduler built from Go
 *   modules (`npm run control-plane`), with the fake node, KubeVirt, CDI and virt-api beside them.
 *
 * The product's `kubevirtbmc sim` and `kubevirtbmc demo` load this module only when it is
 * installed, as it is in a clone (src/demo/kube-sim.ts); its dist/ and image do not contain it.
 */
export {
  type SimCluster,
  type SimClusterOptions,
  startSimCluster,
} from './embedded/index.ts';
export {
  BUILD_HINT,
  controlPlaneBinaries,
  type RealCluster,
  type RealClusterOptions,
  startRealCluster,
} from './fakecluster/index.ts';
