// The fake virt-api without any API server: its HTTPS server's front-proxy authentication (client
// certificates made with openssl, as the control plane harness makes them), the webhooks'
// AdmissionReview answers, discovery, and the subresource logic over an in-memory backend
// (VirtApiBackend), including the console websocket.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { vmManifest } from '../../../../test/support/sim-kubevirt.ts';
import { waitFor } from '../../../../test/support/wait.ts';
import { ApiError, conflict, notFound } from '../../src/embedded/errors.ts';
import { applyJsonPatch, applyMergePatch } from '../../src/embedded/patch.ts';
import { selfSignedCert } from '../../src/embedded/tls.ts';
import { reviewAdmission } from '../../src/fakecluster/kubevirt/admission.ts';
import { type GuestState, Guests } from '../../src/fakecluster/kubevirt/guests.ts';
import { type Obj, setPausedCondition } from '../../src/fakecluster/kubevirt/logic.ts';
import { startVirtApiServer, type VirtApiServer } from '../../src/fakecluster/kubevirt/server.ts';
import {
  parseSubresourcePath,
  VirtApi,
  type VirtApiBackend,
} from '../../src/fakecluster/kubevirt/virt-api.ts';

const hasOpenssl = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
const skip =
  hasOpenssl || process.env.CI === 'true' ? false : 'openssl is not installed (Debian package openssl)';

/** An in-memory VirtApiBackend: VMs and VMIs in maps, patches applied with the sim's pure patchers. */
class MemoryBackend implements VirtApiBackend {
  readonly vms = new Map<string, Obj>();
  readonly vmis = new Map<string, Obj>();
  readonly writes: string[] = [];
  rv = 1;
  readonly guests = new Guests(
    { after: (ms, fn) => setTimeout(fn, ms) },
    0,
    () => undefined,
    () => {},
  );
  readonly ended = new Map<string, () => void>();

  put(kind: 'vm' | 'vmi', obj: Obj): Obj {
    const o = structuredClone(obj);
    o.metadata.resourceVersion = String(++this.rv);
    o.metadata.uid ??= `${kind}-${o.metadata.name}-${this.rv}`;
    (kind === 'vm' ? this.vms : this.vmis).set(`${o.metadata.namespace}/${o.metadata.name}`, o);
    return o;
  }
  async getVm(ns: string, name: string) {
    return structuredClone(this.vms.get(`${ns}/${name}`));
  }
  async getVmi(ns: string, name: string) {
    return structuredClone(this.vmis.get(`${ns}/${name}`));
  }
  async patch(
    kind: 'vm' | 'vmi',
    ns: string,
    name: string,
    type: 'json' | 'merge',
    body: unknown,
    status = false,
  ) {
    const map = kind === 'vm' ? this.vms : this.vmis;
    const cur = map.get(`${ns}/${name}`);
    if (!cur)
      throw notFound('kubevirt.io', kind === 'vm' ? 'virtualmachines' : 'virtualmachineinstances', name);
    const next = type === 'json' ? applyJsonPatch(cur, body) : applyMergePatch(cur, body);
    this.writes.push(`${kind}${status ? '/status' : ''} ${type} ${JSON.stringify(body)}`);
    this.put(kind, next);
  }
  async updateVm(vm: Obj) {
    const cur = this.vms.get(`${vm.metadata.namespace}/${vm.metadata.name}`);
    if (cur?.metadata.resourceVersion !== vm.metadata.resourceVersion)
      throw conflict('kubevirt.io', 'virtualmachines', vm.metadata.name, 'the object has been modified');
    this.writes.push(`vm update`);
    this.put('vm', vm);
  }
  async setPaused(vmi: Obj, paused: boolean) {
    const cur = structuredClone(this.vmis.get(`${vmi.metadata.namespace}/${vmi.metadata.name}`)!);
    cur.status ??= {};
    setPausedCondition(cur.status, paused);
    this.put('vmi', cur);
  }
  reboot(vmi: Obj, kind: 'soft' | 'reset') {
    this.guests.reboot(vmi, kind);
  }
  guest(vmi: Obj): GuestState {
    return this.guests.guest(vmi);
  }
  onVmiEnd(_ns: string, uid: string, fn: () => void) {
    this.ended.set(uid, fn);
    return () => this.ended.delete(uid);
  }
  async expandVm(vm: Obj) {
    return vm;
  }
}

function vm(name: string, strategy: Obj, status?: Obj): Obj {
  const m = vmManifest(name, strategy);
  m.metadata.namespace = 'ns';
  if (status) m.status = status;
  return m;
}

function vmi(name: string, phase: string): Obj {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstance',
    metadata: { name, namespace: 'ns' },
    spec: vmManifest(name, {}).spec.template.spec,
    status: { phase, conditions: [{ type: 'AgentConnected', status: 'True' }] },
  };
}

const body = (o: unknown) => Buffer.from(JSON.stringify(o));
const PATH = (kind: string, name: string, sub: string) =>
  `/apis/subresources.kubevirt.io/v1/namespaces/ns/${kind}/${name}/${sub}`;

describe('virt-api logic over a backend', () => {
  test('paths and discovery (names only, as KubeVirt lists them), v1 and v1alpha3', async () => {
    assert.deepEqual(
      parseSubresourcePath('/apis/subresources.kubevirt.io/v1/namespaces/a/virtualmachines/b/start'),
      {
        version: 'v1',
        namespace: 'a',
        resource: 'virtualmachines',
        name: 'b',
        subresource: 'start',
      },
    );
    assert.equal(parseSubresourcePath('/apis/kubevirt.io/v1/namespaces/a/virtualmachines'), undefined);
    const api = new VirtApi(new MemoryBackend());
    for (const v of ['v1', 'v1alpha3']) {
      const r = await api.reply('GET', `/apis/subresources.kubevirt.io/${v}`, Buffer.alloc(0));
      assert.equal(r.status, 200);
      const list = r.body as Obj;
      assert.equal(list.groupVersion, `subresources.kubevirt.io/${v}`);
      assert.deepEqual(
        list.resources.find((x: Obj) => x.name === 'virtualmachines/start'),
        {
          name: 'virtualmachines/start',
          singularName: '',
          namespaced: true,
          kind: '',
          verbs: null,
        },
      );
    }
    assert.equal((await api.reply('GET', '/apis/subresources.kubevirt.io/v2', Buffer.alloc(0))).status, 404);
    const r = await api.reply('GET', PATH('virtualmachines', 'x', 'start'), Buffer.alloc(0));
    assert.equal(r.status, 405);
  });

  test('start, stop and restart write what KubeVirt writes, per run strategy', async () => {
    const b = new MemoryBackend();
    const api = new VirtApi(b);
    b.put('vm', vm('h', { runStrategy: 'Halted' }, {}));
    b.put('vm', vm('m', { runStrategy: 'Manual' }, {}));
    b.put('vm', vm('legacy', { running: true }, {}));
    b.put('vmi', vmi('legacy', 'Running'));
    assert.equal(
      (await api.reply('PUT', PATH('virtualmachines', 'h', 'start'), Buffer.alloc(0))).status,
      202,
    );
    assert.equal(b.vms.get('ns/h')!.spec.runStrategy, 'Always');
    assert.match(
      b.writes.at(-1)!,
      /^vm json \[\{"op":"test","path":"\/spec\/runStrategy","value":"Halted"\}/,
    );
    assert.equal(
      (await api.reply('PUT', PATH('virtualmachines', 'm', 'start'), body({ paused: true }))).status,
      202,
    );
    assert.deepEqual(b.vms.get('ns/m')!.status.stateChangeRequests, [
      { action: 'Start', data: { paused: 'true' } },
    ]);
    const underway = await api.reply('PUT', PATH('virtualmachines', 'm', 'start'), Buffer.alloc(0));
    assert.equal(underway.status, 500);
    assert.equal(
      (underway.body as Obj).message,
      'Internal error occurred: unable to complete request: stop/start already underway',
    );
    const dry = await api.reply('PUT', PATH('virtualmachines', 'h', 'stop'), body({ dryRun: ['All'] }));
    assert.equal(dry.status, 202);
    assert.equal(b.vms.get('ns/h')!.spec.runStrategy, 'Always', 'dry run writes nothing');
    assert.equal(
      (await api.reply('PUT', PATH('virtualmachines', 'legacy', 'stop'), body({ gracePeriod: 0 }))).status,
      202,
    );
    assert.equal(b.vms.get('ns/legacy')!.spec.running, false);
    assert.equal(
      b.vmis.get('ns/legacy')!.spec.terminationGracePeriodSeconds,
      0,
      'the VMI grace period first',
    );
    // a failed json-patch test: the real API server says only "the server rejected our request…"
    b.patch = async () => {
      throw new ApiError(
        422,
        'Invalid',
        'the server rejected our request due to an error in our request',
        {},
      );
    };
    b.put('vm', vm('raced', { runStrategy: 'Halted' }, {}));
    const raced = await api.reply('PUT', PATH('virtualmachines', 'raced', 'start'), Buffer.alloc(0));
    assert.equal(raced.status, 500, 'KubeVirt maps it to 500 unless the text names a missing path');
    assert.equal(
      (raced.body as Obj).message,
      'Internal error occurred: the server rejected our request due to an error in our request',
    );
  });

  test('VMI actions: pause, unpause, softreboot, reset, guestosinfo; refusals', async () => {
    const b = new MemoryBackend();
    const api = new VirtApi(b);
    b.put('vmi', vmi('r', 'Running'));
    b.put('vmi', vmi('s', 'Succeeded'));
    assert.equal(
      (await api.reply('PUT', PATH('virtualmachineinstances', 'r', 'pause'), Buffer.alloc(0))).status,
      200,
    );
    const again = await api.reply('PUT', PATH('virtualmachineinstances', 'r', 'pause'), Buffer.alloc(0));
    assert.equal(again.status, 409);
    assert.equal(
      (again.body as Obj).message,
      'Operation cannot be fulfilled on virtualmachineinstance.kubevirt.io "r": VMI is already paused',
    );
    assert.equal(
      (await api.reply('PUT', PATH('virtualmachineinstances', 'r', 'unpause'), Buffer.alloc(0))).status,
      200,
    );
    assert.equal(
      (await api.reply('PUT', PATH('virtualmachineinstances', 'r', 'reset'), Buffer.alloc(0))).status,
      200,
    );
    assert.match(b.guests.transcript('ns', 'r'), /hard reset/);
    const reset = await api.reply('PUT', PATH('virtualmachineinstances', 's', 'reset'), Buffer.alloc(0));
    assert.equal(reset.status, 500);
    assert.match((reset.body as Obj).message, /Failed to reset non-running VMI with phase Succeeded/);
    const info = await api.reply('GET', PATH('virtualmachineinstances', 'r', 'guestosinfo'), Buffer.alloc(0));
    assert.equal(info.status, 200);
    const console = await api.reply('GET', PATH('virtualmachineinstances', 's', 'console'), Buffer.alloc(0));
    assert.equal(console.status, 400);
    assert.equal((console.body as Obj).message, 'VMI is not running');
  });
});

describe('the webhooks answer AdmissionReview v1', () => {
  test('allowed, and denied with a 422 Invalid Status carrying the causes', () => {
    const ok = reviewAdmission('/virtualmachines-validate', {
      request: { uid: 'u1', operation: 'CREATE', object: vmManifest('a', { runStrategy: 'Always' }) },
    });
    assert.deepEqual(ok, {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'u1', allowed: true },
    });
    const bad = reviewAdmission('/virtualmachines-validate', {
      request: {
        uid: 'u2',
        operation: 'UPDATE',
        object: vmManifest('a', { runStrategy: 'Always', running: true }),
      },
    });
    assert.equal(bad.response.uid, 'u2');
    assert.equal(bad.response.allowed, false);
    assert.deepEqual(bad.response.status, {
      status: 'Failure',
      message: 'spec.running: running and runstrategy are mutually exclusive',
      reason: 'Invalid',
      code: 422,
      details: {
        causes: [
          {
            reason: 'FieldValueInvalid',
            message: 'running and runstrategy are mutually exclusive',
            field: 'spec.running',
          },
        ],
      },
    });
    const vmiUpdate = reviewAdmission('/virtualmachineinstances-validate-create', {
      request: { uid: 'u3', operation: 'UPDATE', object: { spec: {} } },
    });
    assert.equal(vmiUpdate.response.allowed, true, 'the VMI validator is for CREATE only');
    const dv = reviewAdmission('/datavolume-validate', {
      request: { uid: 'u4', operation: 'CREATE', object: { spec: {} } },
    });
    assert.equal(dv.response.status.message, 'spec: Data volume should have either Source or SourceRef');
  });
});

describe('the fake virt-api server: only the front proxy, with a user, gets through', { skip }, () => {
  let dir: string;
  let server: VirtApiServer;
  let backend: MemoryBackend;
  const pki: Record<string, string> = {};
  const openssl = (args: string[]) =>
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ca = (name: string) =>
    openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
    ]);
  const client = (name: string, caName: string, cn: string) => {
    openssl([
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
      `/CN=${cn}`,
    ]);
    writeFileSync(
      join(dir, `${name}.ext`),
      'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n',
    );
    openssl([
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${caName}.crt`,
      '-CAkey',
      `${caName}.key`,
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
    ]);
    pki[name] = readFileSync(join(dir, `${name}.crt`), 'utf8');
    pki[`${name}.key`] = readFileSync(join(dir, `${name}.key`), 'utf8');
  };
  const serving = selfSignedCert('virt-api', ['virt-api.kubevirt.svc']);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kv-virt-api-'));
    ca('front-proxy-ca');
    ca('other-ca');
    pki.ca = readFileSync(join(dir, 'front-proxy-ca.crt'), 'utf8');
    client('proxy', 'front-proxy-ca', 'front-proxy-client');
    client('stranger', 'front-proxy-ca', 'someone-else');
    client('forged', 'other-ca', 'front-proxy-client');
  });
  before(async () => {
    backend = new MemoryBackend();
    backend.put('vm', vm('m', { runStrategy: 'Manual' }, {}));
    backend.put('vmi', vmi('r', 'Running'));
    server = await startVirtApiServer({
      cert: serving.cert,
      key: serving.key,
      api: new VirtApi(backend),
      frontProxy: {
        caCert: pki.ca!,
        allowedNames: ['front-proxy-client'],
        usernameHeader: 'X-Remote-User',
        groupHeader: 'X-Remote-Group',
        extraHeaderPrefix: 'X-Remote-Extra-',
      },
    });
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const put = (
    who: string | undefined,
    headers: Record<string, string>,
    path = PATH('virtualmachines', 'm', 'start'),
  ) =>
    new Promise<number>((resolve, reject) => {
      const r = https.request(
        `https://127.0.0.1:${server.port}${path}`,
        {
          method: 'PUT',
          ca: serving.cert,
          servername: 'virt-api.kubevirt.svc',
          agent: false,
          headers,
          ...(who ? { cert: pki[who], key: pki[`${who}.key`] } : {}),
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      r.on('error', reject);
      r.end();
    });

  test('401 without a certificate, with one of another CA, another name, or no user; 202 for the proxy with a user', async () => {
    const user = { 'X-Remote-User': 'alice', 'X-Remote-Group': 'devs' };
    assert.equal(await put(undefined, user), 401);
    assert.equal(await put('forged', user), 401);
    assert.equal(await put('stranger', user), 401);
    assert.equal(await put('proxy', {}), 401);
    assert.equal(await put('proxy', user), 202);
    const seen = server.requests().at(-1)!;
    assert.deepEqual(
      { user: seen.user, groups: seen.groups, status: seen.status },
      { user: 'alice', groups: ['devs'], status: 202 },
    );
  });

  test('the console websocket: 401 without the proxy, 101 with plain.kubevirt.io; live output only; one connection at a time', async () => {
    backend.guests.boot(backend.vmis.get('ns/r')!);
    const guest = backend.guests.guest(backend.vmis.get('ns/r')!);
    const url = `wss://127.0.0.1:${server.port}${PATH('virtualmachineinstances', 'r', 'console')}`;
    const open = (who?: string) =>
      new Promise<{ ws?: WebSocket; status?: number; out: () => string }>((resolve, reject) => {
        let out = '';
        // servername: the name the aggregator verifies (tls.connect takes it; ws's types do not say so)
        const ws = new WebSocket(url, ['plain.kubevirt.io'], {
          ca: serving.cert,
          servername: 'virt-api.kubevirt.svc',
          headers: { 'X-Remote-User': 'alice' },
          ...(who ? { cert: pki[who], key: pki[`${who}.key`] } : {}),
        } as WebSocket.ClientOptions);
        ws.on('message', (d: Buffer) => {
          out += d.toString();
        });
        ws.on('open', () => resolve({ ws, out: () => out }));
        ws.on('unexpected-response', (_q, res) => resolve({ status: res.statusCode ?? 0, out: () => out }));
        ws.on('error', reject);
      });
    assert.equal((await open()).status, 401);
    assert.match(guest.console.transcript, /r login: $/, 'the guest booted before anyone attached');
    const c = await open('proxy');
    assert.ok(c.ws);
    assert.equal(c.ws.protocol, 'plain.kubevirt.io');
    // Nothing printed before the connection is replayed (virt-handler streams the live socket):
    // Enter makes the guest print its prompt again, and that is all the connection gets.
    c.ws.send(Buffer.from('\r'));
    await waitFor(() => c.out().includes('r login: '), { what: 'prompt after Enter' });
    assert.equal(c.out(), '\r\nr login: ');
    assert.doesNotMatch(c.out(), /SeaBIOS|Linux version/);

    // A second connection takes the console: the first is cut without a close frame (1006).
    const firstClosed = new Promise<number>((r) => c.ws!.on('close', (code) => r(code)));
    const d = await open('proxy');
    assert.ok(d.ws);
    assert.equal(await firstClosed, 1006);
    d.ws.send(Buffer.from('\r'));
    await waitFor(() => d.out().includes('r login: '), { what: 'second connection live' });
    assert.doesNotMatch(d.out(), /SeaBIOS|Linux version/, 'no replay for the second connection either');

    // Output while nobody is attached is gone for the next connection (kept only in the transcript).
    const dClosed = new Promise<number>((r) => d.ws!.on('close', () => r(0)));
    d.ws.close();
    await dClosed;
    guest.console.write('printed while detached\r\n');
    const e = await open('proxy');
    assert.ok(e.ws);
    e.ws.send(Buffer.from('\r'));
    await waitFor(() => e.out().includes('r login: '), { what: 'third connection live' });
    assert.doesNotMatch(e.out(), /printed while detached/);
    assert.match(guest.console.transcript, /printed while detached/);

    const closed = new Promise<number>((r) => e.ws!.on('close', (code) => r(code)));
    backend.ended.get(backend.vmis.get('ns/r')!.metadata.uid)!();
    assert.equal(await closed, 1000);
  });
});
