/**
 * Loads the clusters of `kubevirtbmc sim` and `kubevirtbmc demo` from the workspace package
 * `@kubevirtbmc/kube-sim` (packages/kube-sim), which a clone has and the image and dist/ do not.
 *
 * The package ships TypeScript sources, so when this runs from dist/ the tsx loader (a dev
 * dependency, present wherever the package is) is registered first. The product does not compile
 * against the package: it names here the little it uses, and a type test
 * (test/unit/demo/kube-sim.test.ts) checks that the package still provides it.
 */

export type ClusterTiming = 'fast' | 'realistic';

export interface StartOptions {
  port?: number;
  timing?: ClusterTiming;
  kubeconfigPath?: string;
}

/** What the demo and `kubevirtbmc sim` use of a cluster, embedded or real. */
export interface LoadedCluster {
  readonly url: string;
  readonly kubeconfigPath: string;
  serviceEndpoints(namespace: string, name: string): Record<string, string>;
  stop(): Promise<void>;
}

export interface LoadedRealCluster extends LoadedCluster {
  readonly controlPlane: { readonly version: string; readonly startupMs: number; readonly url: string };
}

export interface KubeSimModule {
  startSimCluster(options: StartOptions): Promise<LoadedCluster>;
  startRealCluster(options: StartOptions): Promise<LoadedRealCluster>;
  controlPlaneBinaries(): unknown;
  readonly BUILD_HINT: string;
}

export const KUBE_SIM_PACKAGE = '@kubevirtbmc/kube-sim';

export class KubeSimMissingError extends Error {
  constructor(cause: unknown) {
    super(
      `the cluster simulator (${KUBE_SIM_PACKAGE}) is not installed: it is not part of the kubevirtbmc ` +
        'image or npm package. Run this from a clone of the repository after `npm ci` ' +
        '(the package lives in packages/kube-sim).',
      { cause },
    );
  }
}

function notFound(err: unknown, specifier: string): boolean {
  const e = err as NodeJS.ErrnoException;
  return (
    (e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') &&
    String(e.message).includes(specifier)
  );
}

const loaded = new Map<string, Promise<KubeSimModule>>();

/** The package, or KubeSimMissingError when it is not installed. */
export function loadKubeSim(specifier = KUBE_SIM_PACKAGE): Promise<KubeSimModule> {
  let module = loaded.get(specifier);
  if (!module) {
    module = load(specifier);
    loaded.set(specifier, module);
  }
  return module;
}

let tsxRegistered = false;

async function load(specifier: string): Promise<KubeSimModule> {
  // Running from dist/ (JavaScript): TypeScript sources need the tsx loader. From the sources,
  // tsx is already the loader.
  if (!tsxRegistered && import.meta.url.endsWith('.js')) {
    tsxRegistered = true;
    try {
      const { register } = await import('tsx/esm/api');
      register();
    } catch (err) {
      // Without tsx there is no clone, hence no package either: the import below says so.
      if (!notFound(err, 'tsx')) throw err;
    }
  }
  try {
    return (await import(specifier)) as KubeSimModule;
  } catch (err) {
    if (notFound(err, specifier)) throw new KubeSimMissingError(err);
    throw err;
  }
}
