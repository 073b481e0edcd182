// The fault-injecting proxy (packages/kube-sim/src/fakecluster/fault-proxy.ts) in front of a real API server (the
// embedded cluster; the assertions hold for any API server): pass-through over HTTP/2 and HTTP/1.1,
// watches, dropWatches, failNext, latency, the request log, pause, the console websocket, our
// KubeClient and Informer. Then against stand-in upstreams, what only a controlled server shows:
// headers and bodies byte for byte, incremental relaying, disconnects on either side, an
// unreachable upstream.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { parse } from 'yaml';
import { KubeApiError, KubeClient } from '../../../../src/kube/client.ts';
import { KubeConfigAccess } from '../../../../src/kube/config.ts';
import { Informer, type WatchedObject } from '../../../../src/kube/informer.ts';
import { bytes, entry, envelope, str } from '../../../../test/support/kube-protobuf.ts';
import { vmManifest } from '../../../../test/support/sim-kubevirt.ts';
import { waitFor } from '../../../../test/support/wait.ts';
import { type SimCluster, startSimCluster } from '../../src/embedded/index.ts';
import { kubeconfigYaml } from '../../src/embedded/kubeconfig.ts';
import { selfSignedCert } from '../../src/embedded/tls.ts';
import { type FaultProxy, startFaultProxy } from '../../src/fakecluster/fault-proxy.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
type Obj = Record<string, any>;
type Proto = 'h2' | 'http/1.1';
const PROTOS: Proto[] = ['h2', 'http/1.1'];
const NS = 'default';
const CM = `/api/v1/namespaces/${NS}/configmaps`;
const T = { timeout: 60_000 };

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json: Obj;
}

interface Streamed {
  status: Promise<number>;
  headers: Promise<http.IncomingHttpHeaders>;
  text(): string;
  events(): Obj[];
  /** 'end': a clean end of the body; 'cut': the stream or connection was broken off. */
  ended: Promise<'end' | 'cut'>;
  cancel(): void;
}

/** A client of one HTTPS server over HTTP/2 (one session) or HTTP/1.1 (a keep-alive agent). */
class Client {
  #session: http2.ClientHttp2Session | undefined;
  readonly agent: https.Agent;
  constructor(
    readonly url: string,
    readonly ca: string,
    readonly token?: string,
  ) {
    this.agent = new https.Agent({ keepAlive: true, ca, ALPNProtocols: ['http/1.1'] });
  }

  session(): http2.ClientHttp2Session {
    if (!this.#session || this.#session.closed || this.#session.destroyed) {
      this.#session = http2.connect(this.url, { ca: this.ca });
      this.#session.on('error', () => {});
    }
    return this.#session;
  }

  #headers(extra: http.OutgoingHttpHeaders = {}): http.OutgoingHttpHeaders {
    return { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  request(
    proto: Proto,
    method: string,
    path: string,
    opts: { body?: Buffer | string | object; headers?: http.OutgoingHttpHeaders } = {},
  ): Promise<Res> {
    const body =
      opts.body === undefined
        ? undefined
        : Buffer.isBuffer(opts.body) || typeof opts.body === 'string'
          ? Buffer.from(opts.body)
          : Buffer.from(JSON.stringify(opts.body));
    const headers = this.#headers({
      ...(body && !Buffer.isBuffer(opts.body) ? { 'content-type': 'application/json' } : {}),
      ...opts.headers,
    });
    const done = (status: number, h: http.IncomingHttpHeaders, chunks: Buffer[]): Res => {
      const b = Buffer.concat(chunks);
      const text = b.toString('utf8');
      let json: Obj = {};
      try {
        json = text ? JSON.parse(text) : {};
      } catch {
        // not JSON
      }
      return { status, headers: h, body: b, text, json };
    };
    if (proto === 'h2') {
      return new Promise((resolve, reject) => {
        const s = this.session().request(
          { ':method': method, ':path': path, ...headers },
          { endStream: !body },
        );
        const chunks: Buffer[] = [];
        let status = 0;
        let h: http.IncomingHttpHeaders = {};
        s.on('response', (rh) => {
          status = Number(rh[':status']);
          h = rh as http.IncomingHttpHeaders;
        });
        s.on('data', (c: Buffer) => chunks.push(c));
        s.on('end', () => resolve(done(status, h, chunks)));
        s.on('error', reject);
        if (body) s.end(body);
      });
    }
    return new Promise((resolve, reject) => {
      const req = https.request(`${this.url}${path}`, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(done(res.statusCode ?? 0, res.headers, chunks)));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** A streaming GET (a watch): its lines as they come, and how it ended. */
  stream(proto: Proto, path: string, extra: http.OutgoingHttpHeaders = {}): Streamed {
    let text = '';
    let setStatus: (n: number) => void = () => {};
    let setHeaders: (h: http.IncomingHttpHeaders) => void = () => {};
    let setEnded: (e: 'end' | 'cut') => void = () => {};
    const status = new Promise<number>((r) => {
      setStatus = r;
    });
    const headersP = new Promise<http.IncomingHttpHeaders>((r) => {
      setHeaders = r;
    });
    const ended = new Promise<'end' | 'cut'>((r) => {
      setEnded = r;
    });
    const headers = this.#headers(extra);
    let cancel: () => void;
    if (proto === 'h2') {
      const s = this.session().request({ ':method': 'GET', ':path': path, ...headers }, { endStream: true });
      s.setEncoding('utf8');
      s.on('response', (h) => {
        setHeaders(h as http.IncomingHttpHeaders);
        setStatus(Number(h[':status']));
      });
      s.on('data', (c: string) => {
        text += c;
      });
      s.on('end', () => setEnded('end'));
      s.on('error', () => setEnded('cut'));
      s.on('close', () => setEnded(s.rstCode ? 'cut' : 'end'));
      cancel = () => s.close(http2.constants.NGHTTP2_CANCEL);
    } else {
      const req = https.request(
        `${this.url}${path}`,
        { method: 'GET', headers, agent: this.agent },
        (res) => {
          setHeaders(res.headers);
          setStatus(res.statusCode ?? 0);
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            text += c;
          });
          res.on('end', () => setEnded('end'));
          res.on('error', () => setEnded('cut'));
          res.on('aborted', () => setEnded('cut'));
          res.on('close', () => setEnded(res.complete ? 'end' : 'cut'));
        },
      );
      req.on('error', () => {
        setStatus(0);
        setEnded('cut');
      });
      req.end();
      cancel = () => req.destroy();
    }
    return {
      status,
      headers: headersP,
      text: () => text,
      events: () =>
        text
          .split('\n')
          .filter((l) => l.trim())
          .map((l) => JSON.parse(l)),
      ended,
      cancel: () => cancel(),
    };
  }

  close(): void {
    this.#session?.destroy();
    this.agent.destroy();
  }
}

function within<X>(p: Promise<X>, ms: number, what: string): Promise<X> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<X>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

/** Settles within `ms`? (false: still pending) */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  p.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  await new Promise((r) => setTimeout(r, ms));
  return settled;
}

function assertStatus(r: Res, code: number, reason: string): void {
  assert.equal(r.status, code, r.text);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  assert.equal(r.json.kind, 'Status', r.text);
  assert.equal(r.json.apiVersion, 'v1');
  assert.equal(r.json.status, 'Failure');
  assert.equal(r.json.code, code);
  assert.equal(r.json.reason, reason);
  assert.equal(typeof r.json.message, 'string');
}

const configMap = (name: string, labels: Record<string, string> = {}, data: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, labels },
  data,
});

describe('through an API server', () => {
  let sim: SimCluster;
  let upstreamUrl: string;
  let upstreamCa: string;
  let token: string;
  let proxy: FaultProxy;
  let c: Client;
  let direct: Client;

  before(async () => {
    sim = await startSimCluster({ timing: 'fast' });
    const kc = parse(readFileSync(sim.kubeconfigPath, 'utf8')) as Obj;
    upstreamUrl = kc.clusters[0].cluster.server;
    upstreamCa = Buffer.from(kc.clusters[0].cluster['certificate-authority-data'], 'base64').toString('utf8');
    token = kc.users[0].user.token;
    assert.match(upstreamUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    proxy = await startFaultProxy({ upstream: upstreamUrl, upstreamCa });
    c = new Client(proxy.url, proxy.caCert, token);
    direct = new Client(upstreamUrl, upstreamCa, token);
  });
  after(async () => {
    c?.close();
    direct?.close();
    await proxy?.close();
    await sim?.stop();
  });

  test('url and caCert: HTTPS on 127.0.0.1 with a certificate clients can trust', T, () => {
    assert.match(proxy.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(proxy.caCert, /-----BEGIN CERTIFICATE-----/);
  });

  test('requests pass through over HTTP/2 and HTTP/1.1 with status, headers and body intact', T, async () => {
    proxy.reset();
    for (const proto of PROTOS) {
      const name = `pt-${proto === 'h2' ? 'h2' : 'h1'}`;
      const created = await c.request(proto, 'POST', CM, { body: configMap(name, {}, { k: proto }) });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.json.metadata.name, name);
      assert.equal(created.json.data.k, proto);
      const viaProxy = await c.request(proto, 'GET', `${CM}/${name}`);
      const viaDirect = await direct.request(proto, 'GET', `${CM}/${name}`);
      assert.equal(viaProxy.status, 200);
      assert.equal(viaProxy.headers['content-type'], viaDirect.headers['content-type']);
      assert.deepEqual(viaProxy.body, viaDirect.body, 'the same bytes as from the API server itself');
      const missing = await c.request(proto, 'GET', `${CM}/pt-nothere`);
      assertStatus(missing, 404, 'NotFound');
      // credentials pass through: a token the API server does not know is refused by it
      const stranger = new Client(proxy.url, proxy.caCert, 'not-a-token');
      assertStatus(await stranger.request(proto, 'GET', CM), 401, 'Unauthorized');
      stranger.close();
    }
    const alpns = proxy.connections().map((x) => x.alpn);
    assert.ok(alpns.includes('h2'), JSON.stringify(alpns));
    assert.ok(alpns.includes('http/1.1'), JSON.stringify(alpns));
  });

  test('protobuf request bodies (as kubectl sends) arrive unchanged with their Content-Type', T, async () => {
    for (const proto of PROTOS) {
      const name = `pb-${proto === 'h2' ? 'h2' : 'h1'}`;
      // ObjectMeta{name} as field 1, data as field 2
      const pb = envelope('v1', 'ConfigMap', [...bytes(1, str(1, name)), ...entry(2, 'from', str(2, proto))]);
      const created = await c.request(proto, 'POST', CM, {
        body: pb,
        headers: { 'content-type': 'application/vnd.kubernetes.protobuf', accept: 'application/json' },
      });
      assert.equal(created.status, 201, created.text);
      const got = await c.request(proto, 'GET', `${CM}/${name}`);
      assert.equal(got.json.data.from, proto);
    }
  });

  test(
    'a watch receives events as they happen; dropWatches ends it cleanly; watching again works',
    T,
    async () => {
      for (const proto of PROTOS) {
        const label = `w-${proto === 'h2' ? 'h2' : 'h1'}`;
        const list = await c.request(proto, 'GET', `${CM}?labelSelector=watch%3D${label}`);
        assert.equal(list.status, 200);
        const rv = list.json.metadata.resourceVersion;
        const w = c.stream(proto, `${CM}?watch=true&resourceVersion=${rv}&labelSelector=watch%3D${label}`);
        assert.equal(await within(w.status, 10_000, 'watch answer'), 200);
        assert.match(String((await w.headers)['content-type']), /^application\/json/);
        const a = await c.request(proto, 'POST', CM, { body: configMap(`${label}-a`, { watch: label }) });
        assert.equal(a.status, 201);
        await waitFor(
          () => w.events().some((e) => e.type === 'ADDED' && e.object.metadata.name === `${label}-a`),
          {
            timeoutMs: 10_000,
            what: `${proto} ADDED`,
          },
        );
        const p = await c.request(proto, 'PATCH', `${CM}/${label}-a`, {
          body: { data: { x: '1' } },
          headers: { 'content-type': 'application/merge-patch+json' },
        });
        assert.equal(p.status, 200, p.text);
        await waitFor(() => w.events().some((e) => e.type === 'MODIFIED' && e.object.data?.x === '1'), {
          timeoutMs: 10_000,
          what: `${proto} MODIFIED`,
        });
        assert.equal(await settlesWithin(w.ended, 50), false, 'the watch is still open');
        proxy.dropWatches();
        assert.equal(await within(w.ended, 10_000, 'the end of the watch'), 'end');
        assert.ok(w.text().endsWith('\n'), 'ended between events');
        // a watch from the last resourceVersion goes on
        const last = w.events().at(-1)!.object.metadata.resourceVersion;
        const w2 = c.stream(proto, `${CM}?watch=true&resourceVersion=${last}&labelSelector=watch%3D${label}`);
        assert.equal(await within(w2.status, 10_000, 'second watch'), 200);
        await c.request(proto, 'DELETE', `${CM}/${label}-a`);
        await waitFor(() => w2.events().some((e) => e.type === 'DELETED'), {
          timeoutMs: 10_000,
          what: 'DELETED',
        });
        w2.cancel();
      }
    },
  );

  test('failNext answers with a Status only for matching requests, and only count times', T, async () => {
    const target = `${CM}/fn-target`;
    proxy.failNext(2, 429, { path: /\/configmaps\/fn-target$/, method: 'get' });
    assertStatus(await c.request('h2', 'GET', `${CM}/fn-other`), 404, 'NotFound');
    assertStatus(await c.request('h2', 'DELETE', target), 404, 'NotFound');
    for (const proto of PROTOS) {
      const r = await c.request(proto, 'GET', target);
      assertStatus(r, 429, 'TooManyRequests');
      assert.equal(r.headers['retry-after'], '1');
      assert.equal(r.json.details?.retryAfterSeconds, 1);
    }
    assertStatus(await c.request('http/1.1', 'GET', target), 404, 'NotFound');

    proxy.failNext(1, 500);
    assertStatus(await c.request('http/1.1', 'GET', `${CM}?limit=1`), 500, 'InternalError');
    assert.equal((await c.request('http/1.1', 'GET', `${CM}?limit=1`)).status, 200);

    proxy.failNext(1, 410, { path: /\/configmaps$/ });
    assertStatus(
      await c.request('h2', 'GET', `${CM}?resourceVersion=1&resourceVersionMatch=Exact`),
      410,
      'Expired',
    );
    assert.equal((await c.request('h2', 'GET', CM)).status, 200);
  });

  test(
    'failNext(410) on a watch: HTTP 200 with one ERROR event carrying a 410 Status, then the end',
    T,
    async () => {
      for (const proto of PROTOS) {
        proxy.failNext(1, 410, { path: /\/configmaps$/, method: 'GET' });
        const w = c.stream(proto, `${CM}?watch=true&resourceVersion=1`);
        assert.equal(await within(w.status, 10_000, 'answer'), 200);
        assert.equal(await within(w.ended, 10_000, 'end'), 'end');
        const events = w.events();
        assert.equal(events.length, 1, w.text());
        assert.equal(events[0]!.type, 'ERROR');
        assert.equal(events[0]!.object.kind, 'Status');
        assert.equal(events[0]!.object.code, 410);
        assert.equal(events[0]!.object.reason, 'Expired');
        // used up: the next watch is the server's
        const list = await c.request(proto, 'GET', CM);
        const w2 = c.stream(proto, `${CM}?watch=true&resourceVersion=${list.json.metadata.resourceVersion}`);
        assert.equal(await within(w2.status, 10_000, 'answer'), 200);
        assert.equal(await settlesWithin(w2.ended, 200), false, 'a real watch stays open');
        w2.cancel();
      }
    },
  );

  test('setLatency delays every request before it is forwarded', T, async () => {
    const ms = 400;
    proxy.setLatency(ms);
    try {
      for (const proto of PROTOS) {
        const t0 = performance.now();
        assert.equal((await c.request(proto, 'GET', '/version')).status, 200);
        assert.ok(performance.now() - t0 >= ms - 5, `${proto}: ${performance.now() - t0} ms`);
      }
      // faults are answered after the delay too
      proxy.failNext(1, 500, { path: /^\/version$/ });
      const t0 = performance.now();
      assertStatus(await c.request('h2', 'GET', '/version'), 500, 'InternalError');
      assert.ok(performance.now() - t0 >= ms - 5, `fault: ${performance.now() - t0} ms`);
    } finally {
      proxy.setLatency(0);
    }
  });

  test(
    'requests() records method, path without query, verb as RequestInfo, status and User-Agent',
    T,
    async () => {
      proxy.reset();
      assert.deepEqual(proxy.requests(), []);
      const ua = { 'user-agent': 'fault-proxy-verbs/1.0' };
      const expect: Array<[string, string, string, number]> = [];
      const step = async (
        proto: Proto,
        method: string,
        path: string,
        verb: string,
        body?: object,
        ct?: string,
      ) => {
        const r = await c.request(proto, method, path, {
          ...(body ? { body } : {}),
          headers: { ...ua, ...(ct ? { 'content-type': ct } : {}) },
        });
        expect.push([method, path.split('?')[0]!, verb, r.status]);
        return r;
      };
      await step('h2', 'GET', '/version', 'get');
      await step('http/1.1', 'GET', `${CM}?limit=5`, 'list');
      await step('h2', 'GET', '/api/v1/namespaces', 'list');
      await step('h2', 'GET', `/api/v1/namespaces/${NS}`, 'get');
      await step('h2', 'POST', CM, 'create', configMap('verbs', { verbs: 'yes' }));
      const got = await step('http/1.1', 'GET', `${CM}/verbs`, 'get');
      await step('h2', 'PUT', `${CM}/verbs`, 'update', { ...got.json, data: { a: 'b' } });
      await step(
        'http/1.1',
        'PATCH',
        `${CM}/verbs`,
        'patch',
        { data: { c: 'd' } },
        'application/merge-patch+json',
      );
      for (const [proto, path] of [
        ['h2', `${CM}?watch=true`],
        ['http/1.1', `${CM}?watch=1&labelSelector=verbs%3Dyes`],
        ['h2', `/api/v1/watch/namespaces/${NS}/configmaps`],
      ] as const) {
        const w = c.stream(proto, path, ua);
        expect.push(['GET', path.split('?')[0]!, 'watch', await within(w.status, 10_000, 'watch')]);
        w.cancel();
      }
      await step('h2', 'GET', `/apis/apps/v1/namespaces/${NS}/deployments`, 'list');
      await step('h2', 'DELETE', `${CM}/verbs`, 'delete');
      await step('http/1.1', 'DELETE', `${CM}?labelSelector=verbs%3Dyes`, 'deletecollection');
      const mine = proxy
        .requests()
        .filter((r) => r.userAgent === ua['user-agent'])
        .map((r) => [r.method, r.path, r.verb, r.status]);
      assert.deepEqual(mine, expect);
      // (the legacy /watch/ path is served by kube-apiserver, not by every API server)
      assert.deepEqual(
        expect.filter((e) => !e[1].includes('/watch/')).map((e) => e[3]),
        [200, 200, 200, 200, 201, 200, 200, 200, 200, 200, 200, 200, 200],
      );
      proxy.reset();
      assert.deepEqual(proxy.requests(), []);
      assert.deepEqual(proxy.connections(), []);
    },
  );

  test('pause holds new connections and requests until resume', T, async () => {
    assert.equal((await c.request('h2', 'GET', '/version')).status, 200); // an open connection
    const fresh = new Client(proxy.url, proxy.caCert, token);
    try {
      proxy.pause();
      const before = proxy.connections().length;
      const onOpen = c.request('h2', 'GET', `${CM}?limit=1`);
      const onNew = fresh.request('http/1.1', 'GET', `${CM}?limit=1`);
      assert.equal(await settlesWithin(onOpen, 300), false, 'a request on an open connection is held');
      assert.equal(await settlesWithin(onNew, 0), false, 'a request on a new connection is held');
      assert.equal(proxy.connections().length, before, 'the new connection was not even accepted');
      proxy.resume();
      assert.equal((await within(onOpen, 10_000, 'held request')).status, 200);
      assert.equal((await within(onNew, 10_000, 'held connection')).status, 200);
      assert.ok(proxy.connections().length > before);
    } finally {
      proxy.resume();
      fresh.close();
    }
  });

  test('an upgrade is tunnelled: the console websocket of a running VMI through the proxy', T, async () => {
    const vm = vmManifest('fp-console', { runStrategy: 'Always' });
    const created = await c.request('h2', 'POST', `/apis/kubevirt.io/v1/namespaces/${NS}/virtualmachines`, {
      body: vm,
    });
    assert.equal(created.status, 201, created.text);
    await waitFor(
      async () => {
        const r = await c.request(
          'h2',
          'GET',
          `/apis/kubevirt.io/v1/namespaces/${NS}/virtualmachineinstances/fp-console`,
        );
        return r.status === 200 && r.json.status?.phase === 'Running';
      },
      { timeoutMs: 30_000, intervalMs: 50, what: 'VMI Running' },
    );
    const path = (vmi: string) =>
      `/apis/subresources.kubevirt.io/v1/namespaces/${NS}/virtualmachineinstances/${vmi}/console`;
    const wsUrl = (vmi: string) => `${proxy.url.replace(/^https/, 'wss')}${path(vmi)}`;
    const opts = {
      ca: proxy.caCert,
      headers: { Authorization: `Bearer ${token}`, 'User-Agent': 'fp-console' },
    };
    const ws = new WebSocket(wsUrl('fp-console'), ['plain.kubevirt.io'], opts);
    let output = '';
    ws.on('message', (d: Buffer) => {
      output += d.toString('utf8');
    });
    try {
      await within(
        new Promise<void>((resolve, reject) => {
          ws.once('open', () => resolve());
          ws.once('error', reject);
          ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
        }),
        15_000,
        'the websocket to open',
      );
      assert.equal(ws.protocol, 'plain.kubevirt.io');
      // the guest answers what we type: bytes go both ways through the tunnel
      await waitFor(
        () => {
          if (!output.includes('login: ')) ws.send(Buffer.from('\r'));
          return output.includes('login: ');
        },
        { timeoutMs: 20_000, intervalMs: 200, what: 'login prompt' },
      );
      ws.send(Buffer.from('root\r'));
      await waitFor(() => output.includes('Password: '), { timeoutMs: 10_000, what: 'password prompt' });
    } finally {
      const closed = new Promise((r) => ws.once('close', r));
      ws.close();
      await within(closed, 10_000, 'the websocket to close');
    }
    const rec = proxy.requests().find((r) => r.userAgent === 'fp-console');
    assert.deepEqual(rec && [rec.method, rec.path, rec.verb, rec.status], [
      'GET',
      path('fp-console'),
      'get',
      101,
    ]);

    // a refused upgrade comes back as the API server's answer
    const refused = await within(
      new Promise<number>((resolve, reject) => {
        const w = new WebSocket(wsUrl('fp-nothere'), ['plain.kubevirt.io'], opts);
        w.once('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          res.resume();
          w.terminate();
        });
        w.once('open', () => reject(new Error('opened a console of a VMI that does not exist')));
        w.once('error', reject);
      }),
      15_000,
      'the refusal',
    );
    assert.equal(refused, 404);
  });

  test('expireWatchesBelow: watches from an older resourceVersion get the 410 ERROR event', T, async () => {
    const own = await startFaultProxy({ upstream: upstreamUrl, upstreamCa });
    const oc = new Client(own.url, own.caCert, token);
    try {
      const list = await oc.request('h2', 'GET', CM);
      const rv = BigInt(list.json.metadata.resourceVersion);
      own.expireWatchesBelow(String(rv + 1n));
      for (const proto of PROTOS) {
        const old = oc.stream(proto, `${CM}?watch=true&resourceVersion=${rv}`);
        assert.equal(await within(old.status, 10_000, 'answer'), 200);
        assert.equal(await within(old.ended, 10_000, 'end'), 'end');
        assert.deepEqual(
          old.events().map((e) => [e.type, e.object.code, e.object.reason]),
          [['ERROR', 410, 'Expired']],
        );
        // a watch without a resourceVersion (from the latest) is the server's
        const fresh = oc.stream(proto, `${CM}?watch=true`);
        assert.equal(await within(fresh.status, 10_000, 'answer'), 200);
        assert.equal(await settlesWithin(fresh.ended, 200), false);
        fresh.cancel();
      }
    } finally {
      oc.close();
      await own.close();
    }
  });

  test('KubeClient works through it (HTTP/2), and an Informer recovers after dropWatches', T, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fault-proxy-'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, kubeconfigYaml(proxy.url, proxy.caCert, 'admin', token), { mode: 0o600 });
    const client = new KubeClient(KubeConfigAccess.fromFiles([kubeconfig]), 'fp-kubeclient');
    const informer = new Informer<WatchedObject & { data?: Record<string, string> }>(client, {
      path: CM,
      labelSelector: 'fp=informer',
      watchTimeoutSeconds: 120,
    });
    proxy.reset();
    try {
      await client.request('POST', CM, { body: configMap('inf-a', { fp: 'informer' }, { v: '1' }) });
      await assert.rejects(client.request('GET', `${CM}/inf-nothere`), (e: unknown) => {
        assert.ok(e instanceof KubeApiError);
        assert.equal(e.code, 404);
        assert.equal(e.reason, 'NotFound');
        return true;
      });
      await within(informer.start(), 15_000, 'informer sync');
      assert.equal(informer.get(NS, 'inf-a')?.data?.v, '1');
      const watches = () =>
        proxy
          .requests()
          .filter((r) => r.userAgent === 'fp-kubeclient' && r.verb === 'watch' && r.status === 200).length;
      await waitFor(() => watches() >= 1, { timeoutMs: 10_000, what: 'the informer watching' });
      await client.request('POST', CM, { body: configMap('inf-b', { fp: 'informer' }, { v: '1' }) });
      await waitFor(() => informer.get(NS, 'inf-b'), { timeoutMs: 10_000, what: 'inf-b in the cache' });

      proxy.dropWatches();
      await waitFor(() => watches() >= 2, { timeoutMs: 15_000, what: 'the informer watching again' });
      await client.request('POST', CM, { body: configMap('inf-c', { fp: 'informer' }) });
      await client.request('PATCH', `${CM}/inf-a`, {
        body: { data: { v: '2' } },
        contentType: 'application/merge-patch+json',
      });
      await client.request('DELETE', `${CM}/inf-b`);
      await waitFor(
        () =>
          informer.get(NS, 'inf-c') &&
          informer.get(NS, 'inf-a')?.data?.v === '2' &&
          !informer.get(NS, 'inf-b'),
        { timeoutMs: 15_000, what: 'the events after the drop in the cache' },
      );
      const alpns = proxy.connections().map((x) => x.alpn);
      assert.ok(alpns.length >= 1 && alpns.every((a) => a === 'h2'), JSON.stringify(alpns));
    } finally {
      await informer.stop();
      client.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- stand-in upstreams ----

interface FakeUpstream {
  url: string;
  ca: string;
  /** Lets /stream send its second line. */
  release(): void;
  /** Resolves when a /hold response was closed by the proxy. */
  holdClosed: Promise<void>;
  close(): Promise<void>;
}

/** An HTTPS server offering h2 and HTTP/1.1 ('h2') or HTTP/1.1 only ('h1'). */
async function startFakeUpstream(kind: 'h2' | 'h1'): Promise<FakeUpstream> {
  const cert = selfSignedCert('fake-upstream');
  let release: () => void = () => {};
  let released = new Promise<void>((r) => {
    release = r;
  });
  let holdClosed: () => void = () => {};
  const holdClosedP = new Promise<void>((r) => {
    holdClosed = r;
  });
  const handler = (
    req: http.IncomingMessage | http2.Http2ServerRequest,
    res: http.ServerResponse | http2.Http2ServerResponse,
  ) => {
    const out = res as http.ServerResponse;
    const arrived = performance.now();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '/';
      if (url.startsWith('/echo')) {
        const headers: Record<string, string[]> = {};
        const raw = req.rawHeaders;
        for (let i = 0; i + 1 < raw.length; i += 2) {
          const k = raw[i]!.toLowerCase();
          if (k.startsWith(':')) continue;
          headers[k] = [...(headers[k] ?? []), raw[i + 1]!];
        }
        const text = JSON.stringify({
          method: req.method,
          url,
          httpVersion: req.httpVersion,
          at: arrived,
          headers,
          body: Buffer.concat(chunks).toString('base64'),
        });
        out.setHeader('content-type', 'application/json');
        out.setHeader('x-upstream', 'yes');
        out.setHeader('warning', ['299 - "one"', '299 - "two"']);
        out.writeHead(200);
        out.end(text);
      } else if (url === '/stream') {
        out.writeHead(200, { 'content-type': 'application/json' });
        out.write('{"n":1}\n');
        void released.then(() => out.end('{"n":2}\n'));
      } else if (url === '/cut') {
        out.writeHead(200, { 'content-type': 'text/plain' });
        out.write('partial');
        setTimeout(() => {
          if (res instanceof http2.Http2ServerResponse) res.stream.session?.destroy();
          else (res as http.ServerResponse).socket?.destroy();
        }, 50);
      } else if (url === '/vanish') {
        // the connection goes away before any answer
        if (res instanceof http2.Http2ServerResponse) res.stream.session?.destroy();
        else (res as http.ServerResponse).socket?.destroy();
      } else if (url === '/hold') {
        out.writeHead(200, { 'content-type': 'application/json' });
        out.write('{"held":true}\n');
        res.on('close', () => holdClosed());
      } else {
        out.writeHead(404);
        out.end();
      }
    });
  };
  const server =
    kind === 'h2'
      ? http2.createSecureServer({ cert: cert.cert, key: cert.key, allowHTTP1: true }, handler)
      : https.createServer({ cert: cert.cert, key: cert.key }, handler);
  server.on('sessionError', () => {});
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    ca: cert.cert,
    release: () => {
      release();
      released = new Promise<void>((r) => {
        release = r;
      });
    },
    holdClosed: holdClosedP,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

for (const kind of ['h2', 'h1'] as const) {
  describe(`against a stand-in upstream speaking ${kind === 'h2' ? 'HTTP/2' : 'HTTP/1.1 only'}`, () => {
    let up: FakeUpstream;
    let proxy: FaultProxy;
    let c: Client;
    before(async () => {
      up = await startFakeUpstream(kind);
      proxy = await startFaultProxy({ upstream: up.url, upstreamCa: up.ca });
      c = new Client(proxy.url, proxy.caCert);
    });
    after(async () => {
      c?.close();
      await proxy?.close();
      await up?.close();
    });

    test(
      'the headers that matter go on, hop-by-hop ones do not, and the body arrives byte for byte',
      T,
      async () => {
        const body = randomBytes(70_000);
        for (const proto of PROTOS) {
          const r = await c.request(proto, 'POST', '/echo?x=1', {
            body,
            headers: {
              authorization: 'Bearer secret-token',
              'content-type': 'application/vnd.kubernetes.protobuf',
              accept: 'application/vnd.kubernetes.protobuf, application/json',
              'user-agent': 'kubectl/v1.33.0 (linux/amd64)',
              'impersonate-user': 'alice',
              'impersonate-group': ['g1', 'g2'],
              'impersonate-extra-scopes': 'view',
              ...(proto === 'http/1.1'
                ? {
                    connection: 'keep-alive, x-hop',
                    'x-hop': '1',
                    'keep-alive': 'timeout=5',
                    'proxy-connection': 'keep-alive',
                  }
                : {}),
            },
          });
          assert.equal(r.status, 200, r.text);
          const seen = r.json;
          assert.equal(seen.method, 'POST');
          assert.equal(seen.url, '/echo?x=1');
          assert.equal(seen.httpVersion, kind === 'h2' ? '2.0' : '1.1', 'HTTP/2 upstream when offered');
          assert.deepEqual(seen.headers.authorization, ['Bearer secret-token']);
          assert.deepEqual(seen.headers['content-type'], ['application/vnd.kubernetes.protobuf']);
          assert.deepEqual(seen.headers.accept, ['application/vnd.kubernetes.protobuf, application/json']);
          assert.deepEqual(seen.headers['user-agent'], ['kubectl/v1.33.0 (linux/amd64)']);
          assert.deepEqual(seen.headers['impersonate-user'], ['alice']);
          assert.deepEqual(seen.headers['impersonate-group'], ['g1', 'g2']);
          assert.deepEqual(seen.headers['impersonate-extra-scopes'], ['view']);
          assert.deepEqual(seen.headers['content-length'], [String(body.length)]);
          for (const h of ['x-hop', 'keep-alive', 'proxy-connection', 'x-forwarded-for', 'forwarded', 'via'])
            assert.equal(seen.headers[h], undefined, `${h} was forwarded`);
          assert.deepEqual(Buffer.from(seen.body, 'base64'), body);
          // and back
          assert.equal(r.headers['x-upstream'], 'yes');
          assert.match(String(r.headers.warning), /"one".*"two"/);
        }
      },
    );

    test('a stream is relayed as it arrives, not when it ends', T, async () => {
      for (const proto of PROTOS) {
        const s = c.stream(proto, '/stream');
        assert.equal(await within(s.status, 10_000, 'headers'), 200);
        await waitFor(() => s.text() === '{"n":1}\n', {
          timeoutMs: 10_000,
          what: `${proto}: the first line`,
        });
        assert.equal(await settlesWithin(s.ended, 50), false);
        up.release();
        assert.equal(await within(s.ended, 10_000, 'the end'), 'end');
        assert.equal(s.text(), '{"n":1}\n{"n":2}\n');
      }
    });

    test('an upstream that drops mid-stream cuts the client short; the proxy serves on', T, async () => {
      for (const proto of PROTOS) {
        const s = c.stream(proto, '/cut');
        assert.equal(await within(s.status, 10_000, 'headers'), 200);
        assert.equal(await within(s.ended, 10_000, 'the cut'), 'cut');
        assert.equal((await c.request(proto, 'GET', '/echo')).status, 200);
      }
    });

    test(
      'an upstream that goes away before answering: the client gets no answer either, not a hang',
      T,
      async () => {
        proxy.reset();
        for (const proto of PROTOS) {
          const s = c.stream(proto, '/vanish');
          assert.equal(await within(s.ended, 10_000, 'the cut'), 'cut');
          assert.equal((await c.request(proto, 'GET', '/echo')).status, 200);
        }
        assert.deepEqual(
          proxy.requests().map((r) => [r.path, r.status]),
          [
            ['/vanish', 0],
            ['/echo', 200],
            ['/vanish', 0],
            ['/echo', 200],
          ],
        );
      },
    );

    test(
      'a client that goes away mid-stream: the upstream stream is cancelled; the proxy serves on',
      T,
      async () => {
        const s = c.stream('h2', '/hold');
        await waitFor(() => s.text().includes('held'), { timeoutMs: 10_000, what: 'the first line' });
        s.cancel();
        await within(up.holdClosed, 10_000, 'the upstream to see the cancel');
        const s1 = c.stream('http/1.1', '/hold');
        await waitFor(() => s1.text().includes('held'), { timeoutMs: 10_000, what: 'the first line' });
        s1.cancel();
        for (const proto of PROTOS) assert.equal((await c.request(proto, 'GET', '/echo')).status, 200);
      },
    );

    test('setLatency: a request reaches the upstream only after the delay', T, async () => {
      const ms = 300;
      proxy.setLatency(ms);
      try {
        for (const proto of PROTOS) {
          const t0 = performance.now();
          const r = await c.request(proto, 'GET', '/echo');
          assert.equal(r.status, 200);
          assert.ok(r.json.at - t0 >= ms - 5, `${proto}: forwarded after ${r.json.at - t0} ms`);
        }
      } finally {
        proxy.setLatency(0);
      }
    });

    test('dropWatches leaves requests that are not watches alone', T, async () => {
      const s = c.stream('h2', '/stream');
      await waitFor(() => s.text().length > 0, { timeoutMs: 10_000, what: 'the first line' });
      proxy.dropWatches();
      assert.equal(await settlesWithin(s.ended, 100), false);
      up.release();
      assert.equal(await within(s.ended, 10_000, 'the end'), 'end');
    });
  });
}

describe('an unreachable upstream', () => {
  test('gives a 503 Status, to requests and to upgrades', T, async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const proxy = await startFaultProxy({
      upstream: `https://127.0.0.1:${port}`,
      upstreamCa: selfSignedCert().cert,
    });
    const c = new Client(proxy.url, proxy.caCert, 'some-token');
    try {
      for (const proto of PROTOS) assertStatus(await c.request(proto, 'GET', CM), 503, 'ServiceUnavailable');
      const code = await within(
        new Promise<number>((resolve, reject) => {
          const ws = new WebSocket(`${proxy.url.replace(/^https/, 'wss')}/apis/x/v1/console`, {
            ca: proxy.caCert,
          });
          ws.once('unexpected-response', (_req, res) => {
            resolve(res.statusCode ?? 0);
            res.resume();
            ws.terminate();
          });
          ws.once('open', () => reject(new Error('opened')));
          ws.once('error', reject);
        }),
        10_000,
        'the refusal',
      );
      assert.equal(code, 503);
      assert.deepEqual(
        proxy.requests().map((r) => r.status),
        [503, 503, 503],
      );
    } finally {
      c.close();
      await proxy.close();
    }
  });
});
