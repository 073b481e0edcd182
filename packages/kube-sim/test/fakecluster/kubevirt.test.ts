// The fake KubeVirt and CDI (packages/kube-sim/src/fakecluster/kubevirt) on the real control plane: kube-apiserver,
// etcd, kube-controller-manager and kube-scheduler built by `npm run control-plane`. Every request
// of these tests goes to the real API server: its authentication and RBAC, the aggregation proxy in
// front of the fake virt-api (subresources.kubevirt.io), and its admission chain calling the fake
// virt-api's webhooks. Where the embedded cluster (packages/kube-sim/src/embedded) simulates the same thing, the same
// request is sent to both and the answers must be the same. Skipped when the control plane is not
// built (failed under CI=true).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { parse } from 'yaml';
import { vmManifest } from '../../../../test/support/sim-kubevirt.ts';
import { waitFor } from '../../../../test/support/wait.ts';
import { type SimCluster, startSimCluster } from '../../src/embedded/index.ts';
import { selfSignedCert } from '../../src/embedded/tls.ts';
import { BUILD_HINT, controlPlaneBinaries } from '../../src/fakecluster/controlplane/binaries.ts';
import { startControlPlane } from '../../src/fakecluster/controlplane/start.ts';
import type { ControlPlane } from '../../src/fakecluster/controlplane.ts';
import { type FakeKubeVirt, startFakeKubeVirt } from '../../src/fakecluster/kubevirt/index.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
type Obj = Record<string, any>;
interface Res {
  status: number;
  text: string;
  json: Obj;
}

const skip = controlPlaneBinaries() || process.env.CI === 'true' ? false : BUILD_HINT;
/** Bounds of every wait: generous for two shared cores, finite so a broken feature fails. */
const WAIT = { timeoutMs: 30_000, intervalMs: 50 };
const T = { timeout: 120_000 };
const NS = 'default';
const VMS = `/apis/kubevirt.io/v1/namespaces/${NS}/virtualmachines`;
const VMIS = `/apis/kubevirt.io/v1/namespaces/${NS}/virtualmachineinstances`;
const DVS = `/apis/cdi.kubevirt.io/v1beta1/namespaces/${NS}/datavolumes`;
const SUB = '/apis/subresources.kubevirt.io/v1/namespaces';

/** Raw HTTPS requests to one server (so every byte of a Status body is compared). */
class Http {
  constructor(
    readonly url: string,
    readonly ca: string | undefined,
    readonly token: string | undefined,
  ) {}

  req(
    method: string,
    path: string,
    body?: unknown,
    opts: { token?: string; raw?: string; contentType?: string } = {},
  ) {
    const payload = opts.raw ?? (body === undefined ? undefined : JSON.stringify(body));
    const token = opts.token ?? this.token;
    const u = new URL(this.url);
    const lib = u.protocol === 'https:' ? https : http;
    return new Promise<Res>((resolve, reject) => {
      const r = lib.request(
        `${this.url}${path}`,
        {
          method,
          ...(this.ca ? { ca: this.ca } : {}),
          headers: {
            ...(token ? { Authorization: `Bearer ${token}` } : {}),
            ...(payload !== undefined
              ? {
                  'Content-Type': opts.contentType ?? 'application/json',
                  'Content-Length': Buffer.byteLength(payload),
                }
              : {}),
          },
          agent: false,
          timeout: 20_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: Obj = {};
            try {
              json = text ? JSON.parse(text) : {};
            } catch {
              // not JSON
            }
            resolve({ status: res.statusCode ?? 0, text, json });
          });
        },
      );
      r.on('timeout', () => r.destroy(new Error(`timeout on ${method} ${path}`)));
      r.on('error', reject);
      r.end(payload);
    });
  }

  sub(
    kind: 'virtualmachines' | 'virtualmachineinstances',
    name: string,
    action: string,
    body?: unknown,
    token?: string,
  ) {
    return this.req('PUT', `${SUB}/${NS}/${kind}/${name}/${action}`, body, token ? { token } : {});
  }

  vm(name: string) {
    return this.req('GET', `${VMS}/${name}`);
  }
  vmi(name: string) {
    return this.req('GET', `${VMIS}/${name}`);
  }

  /** The serial console websocket (subprotocol plain.kubevirt.io). */
  console(
    name: string,
  ): Promise<{ ws: WebSocket; output: () => string; protocol: string } | { status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const url = `${this.url.replace(/^http/, 'ws')}${SUB}/${NS}/virtualmachineinstances/${name}/console`;
      const ws = new WebSocket(url, ['plain.kubevirt.io'], {
        ...(this.ca ? { ca: this.ca } : {}),
        headers: { Authorization: `Bearer ${this.token}` },
      });
      let out = '';
      ws.on('message', (d: Buffer, isBinary: boolean) => {
        if (isBinary) out += d.toString('utf8');
      });
      ws.on('open', () => resolve({ ws, output: () => out, protocol: ws.protocol }));
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      ws.on('error', reject);
    });
  }
}

let cp: ControlPlane;
let kv: FakeKubeVirt;
let sim: SimCluster;
/** The real API server (admin) and the embedded cluster (admin). */
let real: Http;
let emb: Http;
/** The real API server's 403 for a subresource (the RBAC test), compared with the embedded cluster's. */
let forbiddenOnReal: Res | undefined;
const warnings: string[] = [];

function tokenOf(kubeconfigYaml: string): string {
  return parse(kubeconfigYaml).users[0].user.token;
}

async function both(fn: (h: Http) => Promise<Res>): Promise<[Res, Res]> {
  return [await fn(real), await fn(emb)];
}

/** The same Status on the real API server (+ fake KubeVirt) and on the embedded cluster. */
function sameStatus([r, s]: [Res, Res], code: number, message: string | RegExp): void {
  const pick = (x: Res) => ({
    status: x.status,
    kind: x.json.kind,
    apiVersion: x.json.apiVersion,
    s: x.json.status,
    message: x.json.message,
    reason: x.json.reason,
    code: x.json.code,
    details: x.json.details,
  });
  assert.deepEqual(pick(r), pick(s), 'the real API server and the embedded cluster differ');
  assert.equal(r.status, code, r.text);
  if (typeof message === 'string') assert.equal(r.json.message, message);
  else assert.match(r.json.message, message);
}

const conflictVm = (name: string, msg: string) =>
  `Operation cannot be fulfilled on virtualmachine.kubevirt.io "${name}": ${msg}`;

async function createVm(h: Http, manifest: Obj): Promise<Obj> {
  const r = await h.req('POST', VMS, manifest);
  assert.equal(r.status, 201, r.text);
  return r.json;
}

async function runningVmi(h: Http, name: string, notUid?: string): Promise<Obj> {
  return waitFor(
    async () => {
      const r = await h.vmi(name);
      return r.status === 200 &&
        r.json.status?.phase === 'Running' &&
        !r.json.metadata.deletionTimestamp &&
        r.json.metadata.uid !== notUid
        ? r.json
        : undefined;
    },
    { ...WAIT, what: `${name} VMI Running` },
  );
}

async function printable(h: Http, name: string, want: string): Promise<Obj> {
  return waitFor(
    async () => {
      const s = (await h.vm(name)).json.status ?? {};
      return s.printableStatus === want ? s : undefined;
    },
    { ...WAIT, what: `${name} ${want}` },
  );
}

async function noVmi(h: Http, name: string): Promise<void> {
  await waitFor(async () => (await h.vmi(name)).status === 404, { ...WAIT, what: `${name} VMI gone` });
}

describe('fake KubeVirt and CDI on the real control plane', { skip }, () => {
  before(async () => {
    cp = await startControlPlane();
    kv = await startFakeKubeVirt({
      kubeconfigPath: cp.kubeconfigPath,
      frontProxy: cp.frontProxy,
      timing: 'fast',
      logger: { info: () => {}, warn: (o, m) => warnings.push(`${m} ${JSON.stringify(o)}`) },
    });
    real = new Http(cp.url, cp.caCert, cp.adminToken);
    sim = await startSimCluster({ timing: 'fast' });
    emb = new Http(sim.url, undefined, tokenOf(readFileSync(sim.kubeconfigPath, 'utf8')));
  }, T);

  after(async () => {
    await kv?.stop();
    await cp?.stop();
    await sim?.stop();
  });

  test(
    'installs the CRDs (Established), the KubeVirt CR, and subresources.kubevirt.io (Available, discovered through the aggregator)',
    T,
    async () => {
      for (const crd of [
        'virtualmachines.kubevirt.io',
        'virtualmachineinstances.kubevirt.io',
        'datavolumes.cdi.kubevirt.io',
        'kubevirts.kubevirt.io',
      ]) {
        const r = await real.req('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd}`);
        assert.equal(r.status, 200, r.text);
        assert.ok(
          r.json.status.conditions.some((c: Obj) => c.type === 'Established' && c.status === 'True'),
          crd,
        );
      }
      const kvcr = await real.req('GET', '/apis/kubevirt.io/v1/namespaces/kubevirt/kubevirts/kubevirt');
      assert.equal(kvcr.json.status.phase, 'Deployed');
      for (const v of ['v1', 'v1alpha3']) {
        const a = await real.req(
          'GET',
          `/apis/apiregistration.k8s.io/v1/apiservices/${v}.subresources.kubevirt.io`,
        );
        assert.ok(
          a.json.status.conditions.some((c: Obj) => c.type === 'Available' && c.status === 'True'),
          a.text,
        );
        const d = await real.req('GET', `/apis/subresources.kubevirt.io/${v}`);
        assert.equal(d.status, 200, d.text);
        assert.equal(d.json.kind, 'APIResourceList');
        const names = d.json.resources.map((x: Obj) => x.name);
        for (const n of [
          'virtualmachines/start',
          'virtualmachines/stop',
          'virtualmachines/restart',
          'virtualmachineinstances/console',
          'virtualmachineinstances/reset',
        ])
          assert.ok(names.includes(n), `${v} lists ${n}`);
      }
      const groups = await real.req('GET', '/apis');
      assert.ok(groups.json.groups.some((g: Obj) => g.name === 'subresources.kubevirt.io'));
    },
  );

  test(
    'Always: a Running VMI; start refused; restart replaces the VMI; stop through the aggregator sets Halted',
    T,
    async () => {
      await createVm(real, vmManifest('always', { runStrategy: 'Always' }));
      const first = await runningVmi(real, 'always');
      const st = await printable(real, 'always', 'Running');
      assert.equal(st.ready, true);
      assert.equal(st.runStrategy, 'Always');
      assert.equal(first.metadata.ownerReferences[0].kind, 'VirtualMachine');
      assert.deepEqual(first.metadata.finalizers, ['kubevirt.io/foregroundDeleteVirtualMachine']);
      assert.deepEqual(
        first.status.phaseTransitionTimestamps.map((p: Obj) => p.phase),
        ['Pending', 'Scheduling', 'Scheduled', 'Running'],
      );
      assert.equal(first.status.nodeName, 'fake-node-1');
      assert.match(first.status.interfaces[0].ipAddress, /^10\.244\.\d+\.\d+$/);
      const vm = (await real.vm('always')).json;
      assert.deepEqual(vm.metadata.finalizers, ['kubevirt.io/virtualMachineControllerFinalize']);

      const start = await real.sub('virtualmachines', 'always', 'start');
      assert.equal(start.status, 409);
      assert.equal(start.json.message, conflictVm('always', 'VM is already running'));
      const rs = await real.sub('virtualmachines', 'always', 'restart');
      assert.equal(rs.status, 202, rs.text);
      assert.equal(rs.text, '');
      await runningVmi(real, 'always', first.metadata.uid);
      await waitFor(async () => (await real.vm('always')).json.status?.stateChangeRequests === undefined, {
        ...WAIT,
        what: 'requests consumed',
      });
      const stop = await real.sub('virtualmachines', 'always', 'stop');
      assert.equal(stop.status, 202, stop.text);
      await noVmi(real, 'always');
      const after = (await real.vm('always')).json;
      assert.equal(after.spec.runStrategy, 'Halted');
      // the VM's status follows the VMI's removal a moment later (the embedded cluster's at once)
      await waitFor(
        async () => {
          const s = (await real.vm('always')).json.status;
          return (
            s?.printableStatus === 'Stopped' &&
            s.conditions.find((c: Obj) => c.type === 'Ready')?.reason === 'VMINotExists'
          );
        },
        { ...WAIT, what: 'Stopped, Ready False VMINotExists' },
      );
      assert.match(kv.consoleTranscript(NS, 'always'), /Power down/);
      const seen = kv.requests().find((r) => r.path.endsWith('/virtualmachines/always/stop'));
      assert.equal(seen?.user, 'kubernetes-admin', 'virt-api got the caller from the front proxy');
    },
  );

  test(
    'the start/stop/restart refusals are those of the embedded cluster, code and Status body',
    T,
    async () => {
      for (const h of [real, emb]) {
        await createVm(h, vmManifest('halted', { runStrategy: 'Halted' }));
        await createVm(h, vmManifest('manual', { runStrategy: 'Manual' }));
        await createVm(h, vmManifest('once', { runStrategy: 'Once' }));
        await createVm(h, vmManifest('run', { runStrategy: 'Always' }));
      }
      for (const h of [real, emb]) {
        await printable(h, 'halted', 'Stopped');
        await printable(h, 'manual', 'Stopped');
        await runningVmi(h, 'once');
        await runningVmi(h, 'run');
      }
      sameStatus(
        await both((h) => h.sub('virtualmachines', 'halted', 'stop')),
        409,
        conflictVm('halted', 'VM is not running'),
      );
      sameStatus(
        await both((h) => h.sub('virtualmachines', 'halted', 'restart')),
        409,
        conflictVm('halted', 'RunStategy Halted does not support manual restart requests'),
      );
      sameStatus(
        await both((h) => h.sub('virtualmachines', 'manual', 'stop')),
        409,
        conflictVm('manual', 'VM is not running'),
      );
      sameStatus(
        await both((h) => h.sub('virtualmachines', 'manual', 'restart')),
        409,
        conflictVm('manual', 'VM is not running: Halted'),
      );
      sameStatus(
        await both((h) => h.sub('virtualmachines', 'run', 'start')),
        409,
        conflictVm('run', 'VM is already running'),
      );
      sameStatus(
        await both((h) => h.sub('virtualmachines', 'once', 'restart')),
        409,
        conflictVm('once', 'RunStategy Once does not support manual restart requests'),
      );
      sameStatus(
        await both((h) => h.sub('virtualmachines', 'ghost', 'start')),
        404,
        'virtualmachine.kubevirt.io "ghost" not found',
      );
      sameStatus(
        await both((h) => h.sub('virtualmachines', 'ghost', 'stop')),
        404,
        'virtualmachine.kubevirt.io "ghost" not found',
      );
      sameStatus(
        await both((h) => h.sub('virtualmachines', 'run', 'restart', { gracePeriodSeconds: 30 })),
        400,
        'For force restart, only gracePeriod=0 is supported for now',
      );
      sameStatus(
        await both((h) =>
          h.req('PUT', `${SUB}/${NS}/virtualmachines/run/start`, undefined, { raw: '{not json' }),
        ),
        400,
        /^Can not unmarshal Request body to struct, error: /,
      );
      sameStatus(
        await both((h) => h.sub('virtualmachineinstances', 'nothere', 'pause')),
        404,
        'virtualmachineinstance.kubevirt.io "nothere" not found',
      );
      // Once, after its guest powered off: start refused by strategy, the final VMI left in place
      kv.guestExit(NS, 'once', 'Succeeded');
      sim.faults.guestExit(NS, 'once', 'Succeeded');
      for (const h of [real, emb]) {
        await waitFor(async () => (await h.vmi('once')).json.status?.phase === 'Succeeded', {
          ...WAIT,
          what: 'Succeeded',
        });
        await printable(h, 'once', 'Stopped');
      }
      sameStatus(
        await both((h) => h.sub('virtualmachines', 'once', 'start')),
        409,
        conflictVm('once', 'Once does not support manual start requests'),
      );
      const consoles = await Promise.all([real.console('once'), emb.console('once')]);
      for (const c of consoles) {
        assert.ok('status' in c, 'no console on a finished VMI');
        assert.equal(c.status, 400);
        assert.equal(JSON.parse(c.body).message, 'VMI is not running');
      }
      // Manual: start, stop keeps the strategy
      for (const h of [real, emb]) {
        assert.equal((await h.sub('virtualmachines', 'manual', 'start')).status, 202);
        await runningVmi(h, 'manual');
        await waitFor(async () => (await h.vm('manual')).json.status?.stateChangeRequests === undefined, {
          ...WAIT,
          what: 'Start consumed',
        });
      }
      sameStatus(
        await both((h) => h.sub('virtualmachines', 'manual', 'start')),
        409,
        conflictVm('manual', 'VM is already running'),
      );
      for (const h of [real, emb]) {
        assert.equal((await h.sub('virtualmachines', 'manual', 'stop')).status, 202);
        await noVmi(h, 'manual');
        assert.equal((await h.vm('manual')).json.spec.runStrategy, 'Manual');
      }
    },
  );

  test(
    'RBAC of the real API server: a ServiceAccount without a Role gets 403 on start, with virtualmachines/start 202',
    T,
    async () => {
      const ns = 'rbac-kv';
      assert.equal(
        (
          await real.req('POST', '/api/v1/namespaces', {
            apiVersion: 'v1',
            kind: 'Namespace',
            metadata: { name: ns },
          })
        ).status,
        201,
      );
      const sa = await real.req('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: 'bmc' },
      });
      assert.equal(sa.status, 201, sa.text);
      const tr = await real.req('POST', `/api/v1/namespaces/${ns}/serviceaccounts/bmc/token`, {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 3600 },
      });
      assert.equal(tr.status, 201, tr.text);
      const token: string = tr.json.status.token;
      const vm = vmManifest('guarded', { runStrategy: 'Halted' });
      assert.equal(
        (await real.req('POST', `/apis/kubevirt.io/v1/namespaces/${ns}/virtualmachines`, vm)).status,
        201,
      );
      const path = `${SUB}/${ns}/virtualmachines/guarded/start`;
      const denied = await real.req('PUT', path, {}, { token });
      assert.equal(denied.status, 403, denied.text);
      assert.equal(
        denied.json.message,
        `virtualmachines.subresources.kubevirt.io "guarded" is forbidden: User "system:serviceaccount:${ns}:bmc" cannot update resource "virtualmachines/start" in API group "subresources.kubevirt.io" in the namespace "${ns}"`,
      );
      forbiddenOnReal = denied;
      assert.ok(
        !kv.requests().some((r) => r.path === path),
        'the API server refused it before the aggregator',
      );
      const role = {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'start-vms' },
        rules: [
          {
            apiGroups: ['subresources.kubevirt.io'],
            resources: ['virtualmachines/start'],
            verbs: ['update'],
          },
        ],
      };
      const binding = {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'start-vms' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'start-vms' },
        subjects: [{ kind: 'ServiceAccount', name: 'bmc', namespace: ns }],
      };
      assert.equal(
        (await real.req('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, role)).status,
        201,
      );
      assert.equal(
        (await real.req('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, binding))
          .status,
        201,
      );
      // the authorizer's cache follows the RBAC objects within moments
      const ok = await waitFor(
        async () => {
          const r = await real.req('PUT', path, {}, { token });
          return r.status === 403 ? undefined : r;
        },
        { ...WAIT, what: 'start allowed' },
      );
      assert.equal(ok.status, 202, ok.text);
      const seen = kv.requests().find((r) => r.path === path);
      assert.equal(seen?.user, `system:serviceaccount:${ns}:bmc`);
      assert.ok(seen?.groups?.includes(`system:serviceaccounts:${ns}`), JSON.stringify(seen));
      const stop = await real.req('PUT', `${SUB}/${ns}/virtualmachines/guarded/stop`, {}, { token });
      assert.equal(stop.status, 403, 'stop is not granted');
    },
  );

  test("the embedded cluster's 403 for a subresource is the real API server's", T, async () => {
    const ns = 'rbac-kv';
    const denied = forbiddenOnReal;
    assert.ok(denied, 'the RBAC test ran first');
    const path = `${SUB}/${ns}/virtualmachines/guarded/start`;
    const vm = vmManifest('guarded', { runStrategy: 'Halted' });
    const simToken = tokenOf(sim.serviceAccountKubeconfig(ns, 'bmc'));
    await emb.req('POST', '/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: ns },
    });
    await emb.req('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'bmc' },
    });
    await emb.req('POST', `/apis/kubevirt.io/v1/namespaces/${ns}/virtualmachines`, vm);
    const simDenied = await emb.req('PUT', path, {}, { token: simToken });
    assert.deepEqual(
      {
        status: simDenied.status,
        message: simDenied.json.message,
        reason: simDenied.json.reason,
        details: simDenied.json.details,
      },
      {
        status: denied.status,
        message: denied.json.message,
        reason: denied.json.reason,
        details: denied.json.details,
      },
    );
  });

  test(
    'the fake virt-api answers only the front proxy: no client certificate, or one from another CA, is 401',
    T,
    async () => {
      const path = `${SUB}/${NS}/virtualmachines/run/start`;
      const direct = (opts: https.RequestOptions) =>
        new Promise<number>((resolve, reject) => {
          const r = https.request(
            `https://127.0.0.1:${kv.port}${path}`,
            {
              method: 'PUT',
              rejectUnauthorized: false,
              agent: false,
              headers: { 'X-Remote-User': 'system:admin', 'X-Remote-Group': 'system:masters' },
              ...opts,
            },
            (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            },
          );
          r.on('error', reject);
          r.end();
        });
      assert.equal(await direct({}), 401);
      const other = selfSignedCert('front-proxy-client');
      assert.equal(await direct({ cert: other.cert, key: other.key }), 401);
    },
  );

  test(
    'the serial console streams through the real API server (plain.kubevirt.io): live output, login, power-off closes it',
    T,
    async () => {
      await createVm(
        real,
        vmManifest(
          'con',
          { runStrategy: 'Manual' },
          {
            domain: {
              firmware: { bootloader: { efi: { secureBoot: false } } },
              devices: {
                disks: [{ name: 'rootdisk', disk: { bus: 'virtio' }, bootOrder: 2 }],
                interfaces: [
                  { name: 'default', masquerade: {}, bootOrder: 1, macAddress: '02:00:00:00:00:07' },
                ],
              },
            },
          },
        ),
      );
      assert.equal((await real.sub('virtualmachines', 'con', 'start')).status, 202);
      await runningVmi(real, 'con');
      const c = await real.console('con');
      assert.ok('ws' in c, JSON.stringify(c));
      assert.equal(c.protocol, 'plain.kubevirt.io');
      // The boot went by before the connection (virt-handler replays nothing): it is in the serial
      // log (the guest-console-log container's part), and Enter brings the login prompt back.
      await waitFor(() => kv.consoleTranscript(NS, 'con').includes('login: '), { ...WAIT, what: 'booted' });
      assert.match(kv.consoleTranscript(NS, 'con'), /Firmware mode: UEFI/);
      assert.match(
        kv.consoleTranscript(NS, 'con'),
        /Booting from network \(PXE\) on interface 'default' \(MAC 02:00:00:00:00:07\)/,
      );
      c.ws.send(Buffer.from('\r'));
      await waitFor(() => c.output().includes('con login: '), { ...WAIT, what: 'login prompt' });
      c.ws.send(Buffer.from('root\r'));
      await waitFor(() => c.output().includes('Password: '), { ...WAIT, what: 'password prompt' });
      c.ws.send(Buffer.from('secret\r'));
      await waitFor(() => c.output().includes('[root@con ~]$ '), { ...WAIT, what: 'shell prompt' });
      assert.doesNotMatch(c.output(), /secret/);
      const sr = await real.sub('virtualmachineinstances', 'con', 'softreboot');
      assert.equal(sr.status, 200, sr.text);
      await waitFor(() => c.output().includes('reboot: Restarting system'), { ...WAIT, what: 'reboot' });
      const closed = new Promise<number>((r) => c.ws.on('close', (code) => r(code)));
      assert.equal((await real.sub('virtualmachines', 'con', 'stop')).status, 202);
      assert.equal(await closed, 1000);
      assert.match(c.output(), /Power down/);
      const seen = kv.requests().find((r) => r.path.endsWith('/virtualmachineinstances/con/console'));
      assert.equal(seen?.status, 101);
      assert.equal(seen?.user, 'kubernetes-admin');
    },
  );

  test(
    'the webhooks: the real API server refuses invalid VMs and DataVolume spec changes with the messages of the embedded cluster',
    T,
    async () => {
      const dup = vmManifest(
        'dupboot',
        { runStrategy: 'Halted' },
        {
          domain: {
            devices: {
              disks: [{ name: 'rootdisk', disk: {}, bootOrder: 1 }],
              interfaces: [{ name: 'default', masquerade: {}, bootOrder: 1 }],
            },
          },
        },
      );
      sameStatus(
        await both((h) => h.req('POST', VMS, dup)),
        422,
        'admission webhook "virtualmachine-validator.kubevirt.io" denied the request: spec.template.spec.domain.devices.interfaces[0].bootOrder: Boot order for spec.template.spec.domain.devices.interfaces[0].bootOrder already set for a different device.',
      );
      sameStatus(
        await both((h) => h.req('POST', VMS, vmManifest('both', { running: true, runStrategy: 'Always' }))),
        422,
        'admission webhook "virtualmachine-validator.kubevirt.io" denied the request: spec.running: running and runstrategy are mutually exclusive',
      );
      // an update is validated too
      await createVm(real, vmManifest('upd', { runStrategy: 'Halted' }));
      await createVm(emb, vmManifest('upd', { runStrategy: 'Halted' }));
      const patch = [
        { op: 'add', path: '/spec/template/spec/domain/devices/interfaces/0/bootOrder', value: 1 },
      ];
      sameStatus(
        await both((h) =>
          h.req('PATCH', `${VMS}/upd`, patch, { contentType: 'application/json-patch+json' }),
        ),
        422,
        /denied the request: spec\.template\.spec\.domain\.devices\.interfaces\[0\]\.bootOrder: Boot order for/,
      );
      const dv = {
        apiVersion: 'cdi.kubevirt.io/v1beta1',
        kind: 'DataVolume',
        metadata: { name: 'fixed' },
        spec: { source: { blank: {} }, storage: { resources: { requests: { storage: '1Gi' } } } },
      };
      for (const h of [real, emb]) assert.equal((await h.req('POST', DVS, dv)).status, 201);
      sameStatus(
        await both((h) =>
          h.req(
            'PATCH',
            `${DVS}/fixed`,
            { spec: { source: { blank: null, http: { url: 'http://x/y' } } } },
            {
              contentType: 'application/merge-patch+json',
            },
          ),
        ),
        422,
        'admission webhook "datavolume-validate.cdi.kubevirt.io" denied the request: spec: Cannot update spec for DataVolume',
      );
    },
  );

  test(
    'a DataVolume imports (Pending → ImportScheduled → ImportInProgress → Succeeded) into a PVC the real PV binder Bound; an invalid host is retried',
    T,
    async () => {
      const phases: string[] = [];
      const progress: string[] = [];
      const seenPoll = setInterval(() => {
        void real.req('GET', `${DVS}/img`).then((r) => {
          const s = r.json.status ?? {};
          if (s.phase && phases.at(-1) !== s.phase) phases.push(s.phase);
          if (s.progress) progress.push(s.progress);
        });
      }, 5);
      const slow = { ...WAIT };
      try {
        const created = await real.req('POST', DVS, {
          apiVersion: 'cdi.kubevirt.io/v1beta1',
          kind: 'DataVolume',
          metadata: { name: 'img' },
          spec: {
            source: { http: { url: 'https://example.com/disk.qcow2' } },
            storage: { resources: { requests: { storage: '2Gi' } } },
          },
        });
        assert.equal(created.status, 201, created.text);
        await waitFor(async () => (await real.req('GET', `${DVS}/img`)).json.status?.phase === 'Succeeded', {
          ...slow,
          what: 'import done',
        });
      } finally {
        clearInterval(seenPoll);
      }
      const dv = (await real.req('GET', `${DVS}/img`)).json;
      assert.equal(dv.status.progress, '100.0%');
      assert.equal(dv.status.claimName, 'img');
      assert.ok(phases.includes('Succeeded'), phases.join(','));
      for (const p of phases)
        assert.ok(['Pending', 'ImportScheduled', 'ImportInProgress', 'Succeeded'].includes(p), p);
      const pvc = (await real.req('GET', `/api/v1/namespaces/${NS}/persistentvolumeclaims/img`)).json;
      assert.equal(pvc.status.phase, 'Bound');
      // spec.storage is the usable size: CDI inflates the claim by its filesystem overhead (6 %)
      assert.equal(pvc.status.capacity.storage, String(Math.ceil(2 * 1024 ** 3 * 1.06)));
      assert.equal(pvc.metadata.ownerReferences[0].kind, 'DataVolume');
      const pv = (await real.req('GET', `/api/v1/persistentvolumes/${pvc.spec.volumeName}`)).json;
      assert.equal(pv.status.phase, 'Bound');
      assert.equal(pv.spec.claimRef.uid, pvc.metadata.uid, 'bound by kube-controller-manager');
      assert.equal(
        pvc.metadata.annotations['pv.kubernetes.io/bind-completed'],
        'yes',
        'the PV binder of kube-controller-manager bound it',
      );
      const bad = await real.req('POST', DVS, {
        apiVersion: 'cdi.kubevirt.io/v1beta1',
        kind: 'DataVolume',
        metadata: { name: 'bad' },
        spec: { source: { http: { url: 'http://mirror.invalid/x.iso' } }, storage: {} },
      });
      assert.equal(bad.status, 201, bad.text);
      // CDI retries import errors (the importer pod restarts): never Failed, restartCount rises
      const failed = await waitFor(
        async () => {
          const r = await real.req('GET', `${DVS}/bad`);
          return (r.json.status?.restartCount ?? 0) >= 1 ? r.json : undefined;
        },
        { ...WAIT, what: 'an import error retried' },
      );
      assert.equal(failed.status.phase, 'ImportInProgress');
      assert.match(failed.status.conditions.find((c: Obj) => c.type === 'Running').message, /no such host/);
      // once the claim is gone (deleted with its DataVolume by the garbage collector, which on a
      // real cluster may take up to its 30 s discovery resync for a CRD made after it started; the
      // test deletes it too), the volume is Released and the fake CDI deletes it
      assert.equal((await real.req('DELETE', `${DVS}/img`)).status, 200);
      const claimGone = (await real.req('DELETE', `/api/v1/namespaces/${NS}/persistentvolumeclaims/img`))
        .status;
      assert.ok([200, 404].includes(claimGone), String(claimGone));
      await waitFor(
        async () =>
          (await real.req('GET', `/api/v1/persistentvolumes/${pvc.spec.volumeName}`)).status === 404,
        {
          ...WAIT,
          what: 'PV deleted after its claim',
        },
      );
    },
  );

  test(
    'a VM waits for its DataVolume, then boots from it; a CD-ROM hot-plugged into the running VM attaches without RestartRequired',
    T,
    async () => {
      const iso = {
        apiVersion: 'cdi.kubevirt.io/v1beta1',
        kind: 'DataVolume',
        metadata: { name: 'install-iso' },
        spec: { source: { http: { url: 'http://images.example.com/install.iso' } }, storage: {} },
      };
      assert.equal((await real.req('POST', DVS, iso)).status, 201);
      await createVm(
        real,
        vmManifest(
          'dvvm',
          { runStrategy: 'Always' },
          {
            domain: {
              devices: {
                disks: [
                  { name: 'rootdisk', disk: { bus: 'virtio' }, bootOrder: 2 },
                  { name: 'cdrom', cdrom: { bus: 'sata' }, bootOrder: 1 },
                  { name: 'media', cdrom: { bus: 'sata' } },
                ],
              },
            },
            volumes: [
              { name: 'rootdisk', containerDisk: { image: 'quay.io/containerdisks/fedora:41' } },
              { name: 'cdrom', dataVolume: { name: 'install-iso' } },
            ],
          },
        ),
      );
      const vmi = await runningVmi(real, 'dvvm');
      const iso2 = (await real.req('GET', `${DVS}/install-iso`)).json;
      assert.equal(iso2.status.phase, 'Succeeded', 'no VMI before the import succeeded');
      await waitFor(() => kv.consoleTranscript(NS, 'dvvm').includes('login: '), { ...WAIT, what: 'booted' });
      assert.match(
        kv.consoleTranscript(NS, 'dvvm'),
        /Booting from CD-ROM 'cdrom' \(image http:\/\/images\.example\.com\/install\.iso\)/,
      );
      // inject a second image into the empty CD-ROM of the running VM
      const media = {
        ...iso,
        metadata: { name: 'media-iso' },
        spec: { ...iso.spec, source: { http: { url: 'http://images.example.com/media.iso' } } },
      };
      assert.equal((await real.req('POST', DVS, media)).status, 201);
      const patch = [
        {
          op: 'add',
          path: '/spec/template/spec/volumes/-',
          value: { name: 'media', dataVolume: { name: 'media-iso', hotpluggable: true } },
        },
      ];
      const p = await real.req('PATCH', `${VMS}/dvvm`, patch, { contentType: 'application/json-patch+json' });
      assert.equal(p.status, 200, p.text);
      const attached = await waitFor(
        async () => {
          const v = (await real.vmi('dvvm')).json;
          const s = (v.status?.volumeStatus ?? []).find((x: Obj) => x.name === 'media');
          return s?.phase === 'Ready' ? v : undefined;
        },
        { ...WAIT, what: 'media attached' },
      );
      assert.equal(attached.metadata.uid, vmi.metadata.uid, 'the same VMI: a live change');
      const conds = (await real.vm('dvvm')).json.status.conditions;
      assert.ok(!conds.some((c: Obj) => c.type === 'RestartRequired'), JSON.stringify(conds));
      await waitFor(() => kv.consoleTranscript(NS, 'dvvm').includes("[hotplug] media attached to 'media'"), {
        ...WAIT,
        what: 'hotplug in the transcript',
      });
      // deleting the VM stops its VMI first (finalizer), then both are gone
      assert.equal((await real.req('DELETE', `${VMS}/dvvm`)).status, 200);
      await noVmi(real, 'dvvm');
      await waitFor(async () => (await real.vm('dvvm')).status === 404, { ...WAIT, what: 'VM gone' });
    },
  );

  test('no reconcile failed for another reason than a conflict', () => {
    assert.deepEqual(warnings, []);
  });
});
