// The fake CDI importer as CDI v1.66.0 behaves (citations in docs/kubevirt.md, "CDI import errors and
// claims"): an import error is retried, not failed (the DataVolume stays ImportInProgress, restartCount
// rises, the Running condition carries reason Error and the importer's message); an image larger
// than the claim fails the same way; HTTPS trusts the system CAs plus certConfigMap, or nothing with
// insecureSkipVerify; without a default StorageClass a claim without access modes is refused
// (ErrClaimNotValid, no PVC). Same requests on the embedded cluster and, when built, the real
// control plane (kube-apiserver + fake KubeVirt), against image servers on 127.0.0.1.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { waitFor } from '../../../../test/support/wait.ts';
import { type SimCluster, startSimCluster } from '../../src/embedded/index.ts';
import { selfSignedCert } from '../../src/embedded/tls.ts';
import { controlPlaneBinaries } from '../../src/fakecluster/controlplane/binaries.ts';
import { startControlPlane } from '../../src/fakecluster/controlplane/start.ts';
import type { ControlPlane } from '../../src/fakecluster/controlplane.ts';
import { type FakeKubeVirt, startFakeKubeVirt } from '../../src/fakecluster/kubevirt/index.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
type Obj = Record<string, any>;
const NS = 'default';
const DVS = `/apis/cdi.kubevirt.io/v1beta1/namespaces/${NS}/datavolumes`;
const WAIT = { timeoutMs: 30_000, intervalMs: 50 };
const T = { timeout: 120_000 };
const GIB = 1024 ** 3;

interface Api {
  readonly label: string;
  req(method: string, path: string, body?: unknown): Promise<{ status: number; json: Obj }>;
  setDefaultStorageClass(name: string | null): void;
}

function api(
  label: string,
  url: string,
  token: string,
  ca: string | undefined,
  set: Api['setDefaultStorageClass'],
): Api {
  return {
    label,
    setDefaultStorageClass: set,
    req: (method, path, body) =>
      new Promise((resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const u = new URL(`${url}${path}`);
        const r = (u.protocol === 'https:' ? https : http).request(
          u,
          {
            method,
            ...(ca ? { ca } : {}),
            agent: false,
            timeout: 20_000,
            headers: {
              Authorization: `Bearer ${token}`,
              ...(payload ? { 'Content-Type': 'application/json' } : {}),
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : {} });
            });
          },
        );
        r.on('timeout', () => r.destroy(new Error(`timeout on ${method} ${path}`)));
        r.on('error', reject);
        r.end(payload);
      }),
  };
}

/** An image server: 404 for /missing.iso, a 3 GiB Content-Length for /big.iso, 1 MiB for others. */
function imageHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  res.on('error', () => {});
  if (req.url === '/missing.iso') {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    return;
  }
  if (req.url === '/moved.iso') {
    res.writeHead(302, { Location: '/small.iso' }).end();
    return;
  }
  const size = req.url === '/big.iso' ? 3 * GIB : 1024 * 1024;
  res.writeHead(200, { 'Content-Length': String(size), 'Content-Type': 'application/octet-stream' });
  if (req.method === 'HEAD') res.end();
  else res.write(Buffer.alloc(64 * 1024)); // the importer stops reading; never the whole body
}

let plain: http.Server;
let tls: https.Server;
let tlsCa: string;
let cp: ControlPlane | undefined;
let kv: FakeKubeVirt | undefined;
let sim: SimCluster;
const apis: Api[] = [];
let n = 0;

const dv = (url: string, storage: Obj, http: Obj = {}) => ({
  apiVersion: 'cdi.kubevirt.io/v1beta1',
  kind: 'DataVolume',
  metadata: { name: `imp-${++n}` },
  spec: { source: { http: { url, ...http } }, storage },
});
const sized = (size: string) => ({ resources: { requests: { storage: size } } });
const running = (d: Obj) => d.status?.conditions?.find((c: Obj) => c.type === 'Running');

async function create(a: Api, body: Obj): Promise<string> {
  const r = await a.req('POST', DVS, body);
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return body.metadata.name;
}

async function until(a: Api, name: string, ok: (d: Obj) => boolean, what: string): Promise<Obj> {
  return waitFor(
    async () => {
      const d = (await a.req('GET', `${DVS}/${name}`)).json;
      return ok(d) ? d : undefined;
    },
    { ...WAIT, what: `${a.label}: ${what}` },
  );
}

async function events(a: Api, name: string): Promise<Obj[]> {
  const list = (await a.req('GET', `/api/v1/namespaces/${NS}/events`)).json.items ?? [];
  return list.filter((e: Obj) => e.involvedObject?.kind === 'DataVolume' && e.involvedObject?.name === name);
}

describe('fake CDI imports as CDI does', () => {
  before(async () => {
    plain = http.createServer(imageHandler);
    const cert = selfSignedCert('images.test');
    tlsCa = cert.cert;
    tls = https.createServer({ cert: cert.cert, key: cert.key }, imageHandler);
    await Promise.all([
      new Promise<void>((r) => plain.listen(0, '127.0.0.1', r)),
      new Promise<void>((r) => tls.listen(0, '127.0.0.1', r)),
    ]);
    sim = await startSimCluster({ timing: 'fast' });
    const simToken = parse(readFileSync(sim.kubeconfigPath, 'utf8')).users[0].user.token;
    apis.push(api('embedded', sim.url, simToken, undefined, (s) => sim.faults.setDefaultStorageClass(s)));
    if (controlPlaneBinaries()) {
      cp = await startControlPlane();
      const fake = await startFakeKubeVirt({
        kubeconfigPath: cp.kubeconfigPath,
        frontProxy: cp.frontProxy,
        timing: 'fast',
      });
      kv = fake;
      apis.push(
        api('kube-apiserver', cp.url, cp.adminToken, cp.caCert, (s) => fake.setDefaultStorageClass(s)),
      );
    }
  }, T);

  after(async () => {
    await kv?.stop();
    await cp?.stop();
    await sim?.stop();
    plain?.closeAllConnections();
    tls?.closeAllConnections();
    plain?.close();
    tls?.close();
  });

  const base = () => `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
  const secure = () => `https://127.0.0.1:${(tls.address() as AddressInfo).port}`;

  test(
    'a 404 is retried, never Failed: ImportInProgress, restartCount rising, Running False with the error',
    T,
    async () => {
      for (const a of apis) {
        const name = await create(a, dv(`${base()}/missing.iso`, sized('2Gi')));
        const d = await until(a, name, (x) => (x.status?.restartCount ?? 0) >= 2, 'restartCount >= 2');
        assert.equal(d.status.phase, 'ImportInProgress', a.label);
        const cond = running(d);
        assert.equal(cond.status, 'False');
        assert.equal(cond.reason, 'Error');
        assert.equal(
          cond.message,
          'Unable to connect to http data source: expected status code 200, got 404. Status: 404 Not Found',
        );
        const ev = await events(a, name);
        assert.equal(
          ev.filter((e) => e.reason === 'Error' && e.type === 'Warning').length,
          1,
          `${a.label}: one Warning per message`,
        );
        await a.req('DELETE', `${DVS}/${name}`);
      }
    },
  );

  test(
    'an image larger than the claim fails the same way; a large enough claim imports it; redirects are followed',
    T,
    async () => {
      for (const a of apis) {
        const small = await create(a, dv(`${base()}/big.iso`, sized('2Gi')));
        const d = await until(a, small, (x) => running(x)?.reason === 'Error', 'import error');
        assert.equal(d.status.phase, 'ImportInProgress');
        assert.equal(running(d).message, 'DataVolume too small to contain image');
        const big = await create(a, dv(`${base()}/big.iso`, sized('4Gi')));
        await until(a, big, (x) => x.status?.phase === 'Succeeded', 'Succeeded with 4Gi');
        const moved = await create(a, dv(`${base()}/moved.iso`, sized('1Gi')));
        await until(a, moved, (x) => x.status?.phase === 'Succeeded', 'Succeeded after a redirect');
        for (const x of [small, big, moved]) await a.req('DELETE', `${DVS}/${x}`);
      }
    },
  );

  test(
    'HTTPS: an untrusted certificate is an import error; certConfigMap or insecureSkipVerify imports',
    T,
    async () => {
      for (const a of apis) {
        const untrusted = await create(a, dv(`${secure()}/ok.iso`, sized('1Gi')));
        const d = await until(a, untrusted, (x) => running(x)?.reason === 'Error', 'TLS error');
        assert.equal(d.status.phase, 'ImportInProgress');
        assert.match(running(d).message, /x509: certificate signed by unknown authority/);
        const cm = `images-ca-${n}`;
        const made = await a.req('POST', `/api/v1/namespaces/${NS}/configmaps`, {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: cm },
          data: { 'ca.pem': tlsCa },
        });
        assert.equal(made.status, 201);
        const trusted = await create(a, dv(`${secure()}/ok.iso`, sized('1Gi'), { certConfigMap: cm }));
        await until(a, trusted, (x) => x.status?.phase === 'Succeeded', 'Succeeded with certConfigMap');
        const skip = await create(a, dv(`${secure()}/ok.iso`, sized('1Gi'), { insecureSkipVerify: true }));
        await until(a, skip, (x) => x.status?.phase === 'Succeeded', 'Succeeded with insecureSkipVerify');
        for (const x of [untrusted, trusted, skip]) await a.req('DELETE', `${DVS}/${x}`);
      }
    },
  );

  test(
    'without a default StorageClass a claim without access modes is refused; with them it imports',
    T,
    async () => {
      for (const a of apis) {
        a.setDefaultStorageClass(null);
        try {
          const bare = await create(a, dv(`${base()}/ok.iso`, sized('1Gi')));
          const d = await until(
            a,
            bare,
            (x) =>
              x.status?.conditions?.some((c: Obj) => c.type === 'Bound' && c.reason === 'ErrClaimNotValid'),
            'ErrClaimNotValid',
          );
          assert.equal(d.status.phase, undefined, 'no phase');
          const bound = d.status.conditions.find((c: Obj) => c.type === 'Bound');
          assert.equal(bound.message, 'PVC spec is missing accessMode and no storageClass to choose profile');
          assert.equal(
            (await a.req('GET', `/api/v1/namespaces/${NS}/persistentvolumeclaims/${bare}`)).status,
            404,
          );
          assert.ok(
            (await events(a, bare)).some((e) => e.reason === 'ErrClaimNotValid' && e.type === 'Warning'),
          );
          const named = await create(
            a,
            dv(`${base()}/ok.iso`, {
              ...sized('1Gi'),
              accessModes: ['ReadWriteOnce'],
              storageClassName: 'fake-cdi-local',
            }),
          );
          await until(
            a,
            named,
            (x) => x.status?.phase === 'Succeeded',
            'Succeeded with a class and access modes',
          );
          for (const x of [bare, named]) await a.req('DELETE', `${DVS}/${x}`);
        } finally {
          a.setDefaultStorageClass('fake-cdi-local');
        }
      }
    },
  );
});
