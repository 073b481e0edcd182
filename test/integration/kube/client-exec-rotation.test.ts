// A client certificate from an exec credential plugin that rotates, against the real kube-apiserver:
// the plugin (a small shell script) first returns a certificate for user-a that really expires 20 s
// later (signed by the control plane's client CA with `openssl ca`), with that expiry as the
// credential's expirationTimestamp; asked again, it returns one for user-b. Requests and watches,
// over HTTP/2 and over HTTP/1.1, must use user-b's certificate once user-a's has expired: the
// connections made with the old one are not reused (kube-apiserver checks a certificate's validity
// at every request, so an old connection would answer 401).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RealCluster } from '../../../packages/kube-sim/src/fakecluster/index.ts';
import { KubeApiError, KubeClient } from '../../../src/kube/client.ts';
import { KubeConfigAccess } from '../../../src/kube/config.ts';
import { realOnly, startCluster } from '../../support/cluster.ts';
import { waitFor } from '../../support/wait.ts';

const NS = 'rotation';
const CM = `/api/v1/namespaces/${NS}/configmaps`;
/** How long user-a's certificate is valid from its signing. */
const LIFETIME_MS = 20_000;

let cluster: RealCluster;
let admin: KubeClient;
let dir: string;

/** `YYYYMMDDHHMMSSZ`, as `openssl ca -startdate/-enddate` takes it. */
const asn1Time = (ms: number) => `${new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;

/** A client certificate for `cn`, signed by the control plane's CA, valid until `notAfter`. */
function clientCert(name: string, cn: string, notAfter: number): { cert: string; key: string } {
  const pki = join(cluster.controlPlane.dir, 'pki');
  const run = (args: string[]) =>
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  run([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/O=rotation-test/CN=${cn}`,
  ]);
  run([
    'ca',
    '-batch',
    '-config',
    'ca.cnf',
    '-cert',
    join(pki, 'ca.crt'),
    '-keyfile',
    join(pki, 'ca.key'),
    '-in',
    `${name}.csr`,
    '-out',
    `${name}.crt`,
    '-startdate',
    asn1Time(Date.now() - 3600_000),
    '-enddate',
    asn1Time(notAfter),
    '-extensions',
    'client',
    '-notext',
  ]);
  return {
    cert: readFileSync(join(dir, `${name}.crt`), 'utf8'),
    key: readFileSync(join(dir, `${name}.key`), 'utf8'),
  };
}

const credential = (c: { cert: string; key: string }, expires?: number) =>
  JSON.stringify({
    apiVersion: 'client.authentication.k8s.io/v1',
    kind: 'ExecCredential',
    status: {
      clientCertificateData: c.cert,
      clientKeyData: c.key,
      ...(expires ? { expirationTimestamp: new Date(expires).toISOString().replace(/\.\d+Z$/, 'Z') } : {}),
    },
  });

async function whoAmI(client: KubeClient): Promise<string | undefined> {
  const r = await client.request<{ status?: { userInfo?: { username?: string } } }>(
    'POST',
    '/apis/authentication.k8s.io/v1/selfsubjectreviews',
    { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } },
  );
  return r.status?.userInfo?.username;
}

/** Starts a watch of the namespace's ConfigMaps; resolves with its first answer (a status). */
async function watchStatus(client: KubeClient, seen: string[], abort: AbortController): Promise<number> {
  let status = 0;
  client.onRequest((method, _path, s) => {
    if (method === 'WATCH') status = s;
  });
  const done = client.stream(
    CM,
    { watch: 1, fieldSelector: 'metadata.name=after-rotation' },
    (ev) => {
      const e = ev as { type: string; object: { metadata: { name: string } } };
      seen.push(`${e.type} ${e.object.metadata.name}`);
    },
    abort.signal,
  );
  try {
    await waitFor(() => status !== 0, { timeoutMs: 15_000, what: 'the watch answered' });
  } catch (err) {
    abort.abort();
    throw err;
  }
  // a refused watch ends with its error; an accepted one runs on
  await Promise.race([done.catch(() => {}), new Promise((r) => setTimeout(r, 200))]);
  return status;
}

describe('an exec plugin whose client certificate rotates', { ...realOnly(), timeout: 180_000 }, () => {
  before(async () => {
    cluster = (await startCluster()) as RealCluster;
    dir = mkdtempSync(join(tmpdir(), 'kube-exec-rotation-'));
    writeFileSync(
      join(dir, 'ca.cnf'),
      `[ ca ]
default_ca = test_ca
[ test_ca ]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[ any ]
organizationName = optional
commonName = supplied
[ client ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
`,
    );
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'serial'), '1000\n');
    admin = new KubeClient(
      KubeConfigAccess.fromFiles([cluster.controlPlane.kubeconfigPath]),
      'rotation-admin',
    );
    await admin.request('POST', '/api/v1/namespaces', { body: { metadata: { name: NS } } });
    // only user-b may read the namespace's ConfigMaps
    await admin.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles`, {
      body: {
        metadata: { name: 'read-configmaps' },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }],
      },
    });
    await admin.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`, {
      body: {
        metadata: { name: 'user-b-reads' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-configmaps' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'user-b' }],
      },
    });
  });
  after(async () => {
    admin?.close();
    await cluster?.stop();
  });

  test('requests and watches, over HTTP/2 and HTTP/1.1, move to the new certificate when the old one expires', async () => {
    const expires = Date.now() + LIFETIME_MS;
    const a = clientCert('a', 'user-a', expires);
    const b = clientCert('b', 'user-b', Date.now() + 24 * 3600_000);
    writeFileSync(join(dir, 'a.json'), credential(a, expires));
    writeFileSync(join(dir, 'b.json'), credential(b));
    const plugin = join(dir, 'credential-plugin.sh');
    writeFileSync(
      plugin,
      `#!/bin/sh
# the first call gets user-a's certificate, every later one user-b's
d="${dir}"
echo call >> "$d/calls"
if [ -e "$d/served-a" ]; then exec cat "$d/b.json"; fi
: > "$d/served-a"
exec cat "$d/a.json"
`,
    );
    chmodSync(plugin, 0o755);
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      `apiVersion: v1
kind: Config
current-context: c
clusters:
- name: c
  cluster:
    server: ${cluster.controlPlane.url}
    certificate-authority-data: ${Buffer.from(cluster.controlPlane.caCert).toString('base64')}
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ${plugin}
      interactiveMode: Never
contexts:
- name: c
  context:
    cluster: c
    user: u
`,
    );
    const access = KubeConfigAccess.fromFiles([kubeconfig]);
    const h2 = new KubeClient(access, 'rotation-h2');
    const h1 = new KubeClient(access, 'rotation-h1', { http2: false });
    const aborts: AbortController[] = [];
    try {
      // user-a: who the API server says we are, and its watch refused (user-a may not read)
      assert.equal(await whoAmI(h2), 'user-a');
      assert.equal(await whoAmI(h1), 'user-a');
      for (const c of [h2, h1]) {
        const abort = new AbortController();
        aborts.push(abort);
        await assert.rejects(
          c.stream(CM, { watch: 1 }, () => {}, abort.signal),
          (err) => err instanceof KubeApiError && err.code === 403 && /user-a/.test(err.message),
        );
      }
      assert.ok(Date.now() < expires - 10_000, 'all of the above before the credential was due for renewal');

      // past the certificate's real end: kube-apiserver refuses it
      await new Promise((r) => setTimeout(r, expires + 1000 - Date.now()));
      const refused = await new Promise<number>((resolve, reject) => {
        const req = https.request(
          `${cluster.controlPlane.url}/apis/authentication.k8s.io/v1/selfsubjectreviews`,
          { method: 'POST', ca: cluster.controlPlane.caCert, cert: a.cert, key: a.key, agent: false },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end('{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}');
      });
      assert.equal(refused, 401, "user-a's certificate has expired");

      // the same clients, their old connections still open: user-b now, requests and watches
      assert.equal(await whoAmI(h2), 'user-b');
      assert.equal(await whoAmI(h1), 'user-b');
      const seen: Record<string, string[]> = { h2: [], h1: [] };
      for (const [name, c] of [
        ['h2', h2],
        ['h1', h1],
      ] as const) {
        const abort = new AbortController();
        aborts.push(abort);
        assert.equal(await watchStatus(c, seen[name]!, abort), 200, `${name}: the watch is accepted`);
      }
      await admin.request('POST', CM, { body: { metadata: { name: 'after-rotation' } } });
      await waitFor(() => seen.h2!.length > 0 && seen.h1!.length > 0, {
        timeoutMs: 15_000,
        what: 'the event on both watches',
      });
      assert.deepEqual(seen, { h2: ['ADDED after-rotation'], h1: ['ADDED after-rotation'] });
      assert.equal(
        readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n').length,
        2,
        'the plugin ran twice: once per credential',
      );
    } finally {
      for (const abort of aborts) abort.abort();
      h2.close();
      h1.close();
    }
  });
});
