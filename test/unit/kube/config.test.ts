import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import type https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { KubeConfigAccess, KubeConfigError } from '../../../src/kube/config.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

function dir(): string {
  return mkdtempSync(join(tmpdir(), 'kubeconfig-'));
}

async function applied(
  kc: KubeConfigAccess,
): Promise<https.RequestOptions & { headers: Record<string, string> }> {
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  return opts as https.RequestOptions & { headers: Record<string, string> };
}

const config = (o: {
  current?: string;
  server?: string;
  cluster?: string;
  user?: string;
  ns?: string;
  contextName?: string;
}) => `apiVersion: v1
kind: Config
current-context: ${o.current ?? 'main'}
clusters:
- name: c1
  cluster:
    server: ${o.server ?? 'https://127.0.0.1:6443'}
${o.cluster ?? ''}
users:
- name: u1
  user:
${o.user ?? '    token: abc'}
contexts:
- name: ${o.contextName ?? 'main'}
  context:
    cluster: c1
    user: u1
${o.ns ? `    namespace: ${o.ns}` : ''}
`;

describe('kubeconfig files', () => {
  test('server, CA data, bearer token and the context namespace', async () => {
    const d = dir();
    const path = join(d, 'config');
    writeFileSync(
      path,
      config({
        cluster: `    certificate-authority-data: ${b64('CA-PEM')}`,
        user: '    token: s3cret',
        ns: 'bmcs',
      }),
    );
    const kc = KubeConfigAccess.fromFiles([path]);
    assert.deepEqual(kc.getCurrentCluster(), { server: 'https://127.0.0.1:6443', skipTLSVerify: false });
    assert.equal(kc.namespace, 'bmcs');
    const o = await applied(kc);
    assert.equal(String(o.ca), 'CA-PEM');
    assert.equal(o.rejectUnauthorized, true);
    assert.equal(o.headers.Authorization, 'Bearer s3cret');
  });

  test('relative certificate paths are read from the kubeconfig directory; client certificates', async () => {
    const d = dir();
    mkdirSync(join(d, 'pki'));
    writeFileSync(join(d, 'pki', 'ca.crt'), 'CA-FILE');
    writeFileSync(join(d, 'pki', 'me.crt'), 'CERT-FILE');
    const path = join(d, 'config');
    writeFileSync(
      path,
      config({
        cluster: '    certificate-authority: pki/ca.crt\n    tls-server-name: api.internal',
        user: `    client-certificate: pki/me.crt\n    client-key-data: ${b64('KEY-DATA')}`,
      }),
    );
    const o = await applied(KubeConfigAccess.fromFiles([path]));
    assert.equal(String(o.ca), 'CA-FILE');
    assert.equal(String(o.cert), 'CERT-FILE');
    assert.equal(String(o.key), 'KEY-DATA');
    assert.equal(o.servername, 'api.internal');
    assert.equal(o.headers.Authorization, undefined, 'no token, no header');
  });

  test('insecure-skip-tls-verify turns verification off; username/password become Basic', async () => {
    const path = join(dir(), 'config');
    writeFileSync(
      path,
      config({ cluster: '    insecure-skip-tls-verify: true', user: '    username: ann\n    password: pw' }),
    );
    const kc = KubeConfigAccess.fromFiles([path]);
    assert.equal(kc.getCurrentCluster().skipTLSVerify, true);
    const o = await applied(kc);
    assert.equal(o.rejectUnauthorized, false);
    assert.equal(o.headers.Authorization, `Basic ${b64('ann:pw')}`);
  });

  test('a tokenFile is read again on every use (projected tokens rotate)', async () => {
    const d = dir();
    writeFileSync(join(d, 'token'), 'first\n');
    const path = join(d, 'config');
    writeFileSync(path, config({ user: '    tokenFile: token' }));
    const kc = KubeConfigAccess.fromFiles([path]);
    assert.equal((await applied(kc)).headers.Authorization, 'Bearer first');
    writeFileSync(join(d, 'token'), 'second\n');
    assert.equal((await applied(kc)).headers.Authorization, 'Bearer second');
  });

  test('a KUBECONFIG list merges as kubectl does: the first definition of a name wins', async () => {
    const d = dir();
    const a = join(d, 'a');
    const b = join(d, 'b');
    writeFileSync(a, config({ current: 'main', server: 'https://first:6443' }));
    writeFileSync(b, config({ current: 'other', server: 'https://second:6443', contextName: 'other' }));
    const kc = KubeConfigAccess.load(undefined, { KUBECONFIG: `${a}:${join(d, 'missing')}:${b}`, HOME: d });
    assert.equal(kc.server, 'https://first:6443');
    // The first file names no current context: the later file's ("other") is used; its cluster
    // name c1 still resolves to the first file's definition.
    writeFileSync(a, config({ current: '', server: 'https://first:6443' }));
    const kc2 = KubeConfigAccess.load(undefined, { KUBECONFIG: `${a}:${b}`, HOME: d });
    assert.equal(kc2.getCurrentCluster().server, 'https://first:6443', 'cluster c1 from the first file');
  });

  test('unusable kubeconfigs are refused with a message naming the problem', () => {
    const d = dir();
    const provider = join(d, 'provider');
    writeFileSync(provider, config({ user: '    auth-provider:\n      name: gcp' }));
    assert.throws(() => KubeConfigAccess.fromFiles([provider]), /auth-provider plugin/);
    const noCtx = join(d, 'noctx');
    writeFileSync(noCtx, config({ current: 'elsewhere' }));
    assert.throws(() => KubeConfigAccess.fromFiles([noCtx]), /no context "elsewhere"/);
    const broken = join(d, 'broken');
    writeFileSync(broken, 'clusters: [unclosed');
    assert.throws(() => KubeConfigAccess.fromFiles([broken]), KubeConfigError);
    assert.throws(() => KubeConfigAccess.fromFiles([join(d, 'absent')]), /cannot read the kubeconfig/);
    assert.throws(() => KubeConfigAccess.load(undefined, { HOME: d }), /no kubeconfig/);
  });
});

describe('exec credential plugins', () => {
  // A plugin as cloud CLIs ship them: it reads KUBERNETES_EXEC_INFO, prints an ExecCredential, and
  // here also counts its runs so the caching can be seen.
  function plugin(d: string): string {
    const path = join(d, 'bin', 'cred-plugin');
    mkdirSync(join(d, 'bin'), { recursive: true });
    writeFileSync(
      path,
      `#!/bin/sh
echo run >> "${d}/runs"
case "$KUBERNETES_EXEC_INFO" in *'"kind":"ExecCredential"'*) ;; *) echo "no exec info" >&2; exit 3;; esac
[ "$FAIL" = yes ] && { echo "not logged in" >&2; exit 1; }
n=$(wc -l < "${d}/runs" | tr -d ' ')
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok-%s-%s","expirationTimestamp":"%s"}}' "$n" "$GREETING" "$EXPIRES"
`,
      { mode: 0o755 },
    );
    return path;
  }

  const withExec = (env: Record<string, string>) =>
    config({
      user: [
        '    exec:',
        '      apiVersion: client.authentication.k8s.io/v1',
        '      command: ./bin/cred-plugin',
        '      interactiveMode: Never',
        '      installHint: install cred-plugin from your cloud',
        '      env:',
        ...Object.entries(env).map(([k, v]) => `      - {name: ${k}, value: "${v}"}`),
      ].join('\n'),
    });

  test('the token comes from the plugin (run relative to the kubeconfig) and is kept until it expires', async () => {
    const d = dir();
    plugin(d);
    const path = join(d, 'config');
    const later = new Date(Date.now() + 3600_000).toISOString();
    writeFileSync(path, withExec({ GREETING: 'hi', EXPIRES: later }));
    const kc = KubeConfigAccess.fromFiles([path]);
    assert.equal((await applied(kc)).headers.Authorization, 'Bearer tok-1-hi');
    assert.equal((await applied(kc)).headers.Authorization, 'Bearer tok-1-hi', 'not run again before expiry');
  });

  test('an expired credential runs the plugin again', async () => {
    const d = dir();
    plugin(d);
    const path = join(d, 'config');
    writeFileSync(path, withExec({ GREETING: 'x', EXPIRES: new Date(Date.now() - 1000).toISOString() }));
    const kc = KubeConfigAccess.fromFiles([path]);
    assert.equal((await applied(kc)).headers.Authorization, 'Bearer tok-1-x');
    assert.equal((await applied(kc)).headers.Authorization, 'Bearer tok-2-x');
  });

  test('a failing plugin is an error naming it, its output and its install hint', async () => {
    const d = dir();
    plugin(d);
    const path = join(d, 'config');
    writeFileSync(path, withExec({ FAIL: 'yes' }));
    const kc = KubeConfigAccess.fromFiles([path]);
    await assert.rejects(
      applied(kc),
      /cred-plugin failed .*not logged in \(install cred-plugin from your cloud\)/,
    );
    const missing = join(d, 'missing');
    writeFileSync(missing, withExec({}).replace('./bin/cred-plugin', 'no-such-plugin-kubevirtbmc'));
    await assert.rejects(
      applied(KubeConfigAccess.fromFiles([missing])),
      /no-such-plugin-kubevirtbmc failed .*not found/,
    );
  });
});

describe('in a pod', () => {
  test('the ServiceAccount token, CA and namespace; the API address from the environment', async () => {
    const d = dir();
    writeFileSync(join(d, 'token'), 'sa-token');
    writeFileSync(join(d, 'ca.crt'), 'CLUSTER-CA');
    writeFileSync(join(d, 'namespace'), 'bmcs\n');
    const kc = KubeConfigAccess.inCluster(d, {
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
      KUBERNETES_SERVICE_PORT: '443',
    });
    assert.equal(kc.server, 'https://10.96.0.1:443');
    assert.equal(kc.namespace, 'bmcs');
    const o = await applied(kc);
    assert.equal(o.headers.Authorization, 'Bearer sa-token');
    assert.equal(String(o.ca), 'CLUSTER-CA');
    writeFileSync(join(d, 'token'), 'rotated');
    assert.equal((await applied(kc)).headers.Authorization, 'Bearer rotated');
    const v6 = KubeConfigAccess.inCluster(d, {
      KUBERNETES_SERVICE_HOST: 'fd00::1',
      KUBERNETES_SERVICE_PORT: '443',
    });
    assert.equal(v6.server, 'https://[fd00::1]:443');
  });

  test('outside a pod the in-cluster loader says why it cannot work', () => {
    assert.throws(() => KubeConfigAccess.inCluster(dir(), {}), /KUBERNETES_SERVICE_HOST/);
    assert.throws(
      () => KubeConfigAccess.inCluster(dir(), { KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '1' }),
      /token does not exist/,
    );
  });
});
