/**
 * The real Kubernetes control plane for tests and for `--control-plane real`: etcd, kube-apiserver,
 * kube-controller-manager and kube-scheduler built from upstream Go modules by
 * `npm run control-plane` (tools/controlplane), started here on free 127.0.0.1 ports with a
 * temporary data dir, and torn down with it.
 */

export interface ControlPlane {
  /** `https://127.0.0.1:PORT` of kube-apiserver. */
  readonly url: string;
  /** An admin kubeconfig (bearer token of a system:masters user, the serving CA). */
  readonly kubeconfigPath: string;
  readonly adminToken: string;
  /** PEM of the CA that signed the API server's serving certificate. */
  readonly caCert: string;
  /**
   * The aggregation layer's front proxy: the CA of the client certificate kube-apiserver presents
   * when it proxies to an aggregated API server (requestheader client CA), and the header names.
   */
  readonly frontProxy: {
    readonly caCert: string;
    readonly allowedNames: readonly string[];
    readonly usernameHeader: string;
    readonly groupHeader: string;
    readonly extraHeaderPrefix: string;
  };
  /** Kubernetes version of the binaries, e.g. `v1.37.2`. */
  readonly version: string;
  /** The temporary directory holding data, certificates and logs. */
  readonly dir: string;
  /** Milliseconds from start until every component was healthy. */
  readonly startupMs: number;
  /** Stops and starts kube-apiserver on the same port (watches break, state stays in etcd). */
  restartApiServer(): Promise<void>;
  /** Compacts etcd's history up to its current revision, which it returns. */
  compactEtcd(): Promise<string>;
  /** Stops and starts etcd on the same ports with the same data. */
  restartEtcd(): Promise<void>;
  /** Stops every process and removes the data dir. */
  stop(): Promise<void>;
}

export { controlPlaneBinaries, startControlPlane } from './controlplane/start.ts';
