/**
 * Credentials for a fake component given as a server and a bearer token rather than a kubeconfig
 * file: how the embedded cluster starts the components that run against it (the fake KubeVirt and
 * the fake node) with the identity it issues them.
 */
import type { KubeAccess } from '../../../../src/kube/config.ts';

export interface Connection {
  /** The API server's URL (`http://` or `https://`). */
  server: string;
  token: string;
  /** PEM of the CA that signed the server's certificate (for `https://`). */
  caCert?: string;
}

export function tokenAccess(c: Connection): KubeAccess & { readonly server: string } {
  return {
    server: c.server,
    getCurrentCluster: () => ({ server: c.server }),
    applyToHTTPSOptions: async (opts) => {
      if (c.caCert) opts.ca = c.caCert;
      opts.headers = { ...(opts.headers ?? {}), Authorization: `Bearer ${c.token}` };
    },
  };
}
