/** Kubeconfig files for the admin and for ServiceAccounts (bearer tokens over HTTPS on loopback: kubectl sends no credentials over plain HTTP). */
import { stringify } from 'yaml';

export function kubeconfigYaml(
  server: string,
  caPem: string,
  user: string,
  token: string,
  namespace = 'default',
): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'kubevirtbmc-sim',
        cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') },
      },
    ],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'kubevirtbmc-sim', context: { cluster: 'kubevirtbmc-sim', user, namespace } }],
    'current-context': 'kubevirtbmc-sim',
    preferences: {},
  });
}
