// KubeClient against small node servers: an HTTPS server that offers no HTTP/2 (the client falls back
// to HTTP/1.1), an HTTP/2 server with a low stream limit (the client opens more connections instead
// of queueing watches), and watch bodies with lines that are not JSON.
import assert from 'node:assert/strict';
import { setMaxListeners } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import {
  type AddressInfo,
  connect as connectTcp,
  createServer as createTcpServer,
  type Socket,
} from 'node:net';
import { after, before, describe, test } from 'node:test';
import { selfSignedCert } from '../../../packages/kube-sim/src/embedded/tls.ts';
import { KubeApiError, KubeClient } from '../../../src/kube/client.ts';
import type { KubeAccess } from '../../../src/kube/config.ts';
import { waitFor } from '../../support/wait.ts';

const cert = selfSignedCert();
const TOKEN = 'test-token-1';

function access(port: number): KubeAccess {
  return {
    getCurrentCluster: () => ({ server: `https://127.0.0.1:${port}` }),
    applyToHTTPSOptions: async (opts) => {
      opts.ca = cert.cert;
      opts.headers = { ...(opts.headers ?? {}), Authorization: `Bearer ${TOKEN}` };
    },
  };
}

function listen(server: https.Server | http2.Http2SecureServer): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

const closeServer = (server: https.Server | http2.Http2SecureServer) =>
  new Promise<void>((resolve) => server.close(() => resolve()));

const event = (type: string, name: string) =>
  `${JSON.stringify({ type, object: { metadata: { name, resourceVersion: '5' } } })}\n`;

describe('fallback to HTTP/1.1 when the server offers no h2', () => {
  let server: https.Server;
  let port: number;
  const seen: { httpVersion: string; method: string; url: string; auth?: string; body: string }[] = [];
  const alpn: (string | false | null)[] = [];
  before(async () => {
    server = https.createServer(
      { cert: cert.cert, key: cert.key },
      (req: IncomingMessage, res: ServerResponse) => {
        let body = '';
        req.on('data', (c) => {
          body += c;
        });
        req.on('end', () => {
          seen.push({
            httpVersion: req.httpVersion,
            method: req.method ?? '',
            url: req.url ?? '',
            body,
            ...(req.headers.authorization ? { auth: req.headers.authorization } : {}),
          });
          if (req.url?.startsWith('/api/v1/pods?watch=1')) {
            res.writeHead(200, { 'Content-Type': 'application/json' });
            res.write(event('ADDED', 'p1'));
            res.end(event('MODIFIED', 'p1'));
            return;
          }
          if (req.url === '/api/v1/missing') {
            res.writeHead(404, { 'Content-Type': 'application/json' });
            res.end(
              JSON.stringify({ kind: 'Status', code: 404, reason: 'NotFound', message: 'nothing here' }),
            );
            return;
          }
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(
            JSON.stringify({ kind: 'Pod', metadata: { name: 'p1' }, echo: body ? JSON.parse(body) : null }),
          );
        });
      },
    );
    server.on('secureConnection', (s) => alpn.push(s.alpnProtocol));
    port = await listen(server);
  });
  after(async () => {
    server.closeAllConnections();
    await closeServer(server);
  });

  test('requests and watches work over HTTP/1.1 with the bearer token', async () => {
    const client = new KubeClient(access(port));
    const pod = await client.request<{ metadata: { name: string } }>('GET', '/api/v1/pods/p1');
    assert.equal(pod.metadata.name, 'p1');
    const patched = await client.request<{ echo: unknown }>('PATCH', '/api/v1/pods/p1', {
      body: [{ op: 'add', path: '/metadata/labels', value: { a: 'b' } }],
      contentType: 'application/json-patch+json',
    });
    assert.deepEqual(patched.echo, [{ op: 'add', path: '/metadata/labels', value: { a: 'b' } }]);
    const events: string[] = [];
    await client.stream(
      '/api/v1/pods',
      { watch: 1 },
      (e) => events.push((e as { type: string }).type),
      new AbortController().signal,
    );
    assert.deepEqual(events, ['ADDED', 'MODIFIED']);
    const missing = await client.request('GET', '/api/v1/missing').catch((e: unknown) => e);
    assert.ok(missing instanceof KubeApiError);
    assert.equal(missing.code, 404);
    assert.equal(missing.message, 'nothing here');
    assert.equal(seen.length, 4);
    assert.ok(seen.every((r) => r.httpVersion === '1.1' && r.auth === `Bearer ${TOKEN}`));
    assert.ok(
      alpn.every((p) => p === false),
      'no protocol was negotiated',
    );
    client.close();
  });
});

describe('HTTP/2 stream limit (SETTINGS_MAX_CONCURRENT_STREAMS = 5)', () => {
  let server: http2.Http2SecureServer;
  let port: number;
  let sessions = 0;
  let open = 0;
  let maxOpenPerSession = 0;
  before(async () => {
    server = http2.createSecureServer({
      cert: cert.cert,
      key: cert.key,
      settings: { maxConcurrentStreams: 5 },
    });
    server.on('session', (s) => {
      sessions++;
      let streams = 0;
      s.on('stream', (stream) => {
        streams++;
        open++;
        maxOpenPerSession = Math.max(maxOpenPerSession, streams);
        stream.on('close', () => {
          streams--;
          open--;
        });
      });
    });
    server.on('stream', (stream, headers) => {
      const name = new URLSearchParams(String(headers[':path']).split('?')[1]).get('fieldSelector') ?? '';
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      // a watch that never ends by itself
      stream.write(event('ADDED', name.replace('metadata.name=', '')));
    });
    port = await listen(server);
  });
  after(async () => {
    await closeServer(server);
  });

  test('12 watches each get their first event, over 3 connections', async () => {
    const client = new KubeClient(access(port));
    const abort = new AbortController();
    setMaxListeners(20, abort.signal);
    const first = new Map<number, string>();
    const watches = Array.from({ length: 12 }, (_, i) =>
      client.stream(
        '/api/v1/pods',
        { watch: 1, fieldSelector: `metadata.name=w${i}` },
        (e) => {
          if (!first.has(i))
            first.set(i, (e as { object: { metadata: { name: string } } }).object.metadata.name);
        },
        abort.signal,
      ),
    );
    await waitFor(() => first.size === 12, { timeoutMs: 10_000, what: 'a first event on every watch' });
    for (let i = 0; i < 12; i++) assert.equal(first.get(i), `w${i}`);
    assert.equal(sessions, 3);
    assert.equal(maxOpenPerSession, 5);
    abort.abort();
    await Promise.all(watches);
    await waitFor(() => open === 0, { what: 'the server seeing every stream closed' });
    // the connections stay for later requests: one more watch reuses one, no new session
    const again = new AbortController();
    let got = '';
    const w = client.stream(
      '/api/v1/pods',
      { watch: 1, fieldSelector: 'metadata.name=again' },
      (e) => {
        got = (e as { object: { metadata: { name: string } } }).object.metadata.name;
      },
      again.signal,
    );
    await waitFor(() => got === 'again', { what: 'the event of a later watch' });
    assert.equal(sessions, 3);
    again.abort();
    await w;
    client.close();
  });
});

describe('watch bodies with bad lines, and error answers, over HTTP/2', () => {
  let server: http2.Http2SecureServer;
  let port: number;
  before(async () => {
    server = http2.createSecureServer({ cert: cert.cert, key: cert.key });
    server.on('stream', (stream, headers) => {
      const path = String(headers[':path']);
      if (path.startsWith('/api/v1/pods?')) {
        stream.respond({ ':status': 200, 'content-type': 'application/json' });
        stream.write('this is not json\n');
        stream.write(event('ADDED', 'good1'));
        stream.write('{"type":"MODIFIED","object":{"metadata":{"na');
        stream.write('\n\n');
        stream.write(event('ADDED', 'good2').slice(0, 10));
        stream.write(event('ADDED', 'good2').slice(10));
        stream.end('{"type":"DELETED","object":{"metadata":{"name":"truncated"');
        return;
      }
      const code = Number(/\/status\/(\d+)/.exec(path)?.[1] ?? 500);
      const reason = { 403: 'Forbidden', 404: 'NotFound', 410: 'Expired' }[code] ?? 'InternalError';
      stream.respond({ ':status': code, 'content-type': 'application/json' });
      stream.end(
        JSON.stringify({
          kind: 'Status',
          status: 'Failure',
          code,
          reason,
          message: `answer ${code}`,
          details: { name: 'thing', kind: 'pods' },
        }),
      );
    });
    port = await listen(server);
  });
  after(async () => {
    await closeServer(server);
  });

  test('lines that are not JSON or are cut short are skipped; the good ones arrive', async () => {
    const client = new KubeClient(access(port));
    const names: string[] = [];
    await client.stream(
      '/api/v1/pods',
      { watch: 1 },
      (e) => names.push((e as { object: { metadata: { name: string } } }).object.metadata.name),
      new AbortController().signal,
    );
    assert.deepEqual(names, ['good1', 'good2']);
    client.close();
  });

  for (const code of [403, 404, 410]) {
    test(`${code} becomes a KubeApiError with that code, reason and details`, async () => {
      const client = new KubeClient(access(port));
      const err = await client.request('GET', `/status/${code}`).catch((e: unknown) => e);
      assert.ok(err instanceof KubeApiError);
      assert.equal(err.code, code);
      assert.equal(err.message, `answer ${code}`);
      assert.equal(err.reason, { 403: 'Forbidden', 404: 'NotFound', 410: 'Expired' }[code]);
      assert.deepEqual(err.details, { name: 'thing', kind: 'pods' });
      const werr = await client
        .stream(`/status/${code}`, { watch: 1 }, () => {}, new AbortController().signal)
        .catch((e: unknown) => e);
      assert.ok(werr instanceof KubeApiError);
      assert.equal(werr.code, code);
      client.close();
    });
  }
});

describe('a stream the server refuses (REFUSED_STREAM) is sent again', () => {
  let server: http2.Http2SecureServer;
  let port: number;
  let seen = 0;
  before(async () => {
    server = http2.createSecureServer({ cert: cert.cert, key: cert.key });
    server.on('stream', (stream, headers) => {
      seen++;
      if (seen <= 2) {
        stream.on('error', () => {}); // closing with an error code errors the server's side too
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        return;
      }
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      stream.end(JSON.stringify({ path: headers[':path'], attempt: seen }));
    });
    port = await listen(server);
  });
  after(async () => {
    await closeServer(server);
  });

  test('the request succeeds on the third attempt; a server that always refuses gets an error', async () => {
    const client = new KubeClient(access(port));
    const got = await client.request<{ path: string; attempt: number }>('GET', '/api/v1/pods/p1');
    assert.deepEqual(got, { path: '/api/v1/pods/p1', attempt: 3 });
    seen = -10; // refuses the next 12
    const err = await client.request('GET', '/api/v1/pods/p1').catch((e: unknown) => e);
    assert.ok(err instanceof Error);
    assert.match(err.message, /refused by the server/);
    assert.equal(seen, -7, 'three attempts, then the error');
    client.close();
  });
});

describe('connections that go away or break', () => {
  let server: http2.Http2SecureServer;
  let port: number;
  const sessions: http2.ServerHttp2Session[] = [];
  let hanging = 0;
  let hungOnce = false;
  before(async () => {
    server = http2.createSecureServer({ cert: cert.cert, key: cert.key });
    server.on('session', (s) => sessions.push(s));
    server.on('stream', (stream, headers) => {
      stream.on('error', () => {});
      const path = String(headers[':path']);
      if (path.startsWith('/api/v1/pods?watch')) {
        stream.respond({ ':status': 200, 'content-type': 'application/json' });
        stream.write(event('ADDED', 'w'));
        return; // never ends by itself
      }
      if (path === '/hang' || (path === '/hang-once' && !hungOnce)) {
        if (path === '/hang-once') hungOnce = true;
        hanging++; // never answered
        return;
      }
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      stream.end(JSON.stringify({ session: sessions.indexOf(stream.session as http2.ServerHttp2Session) }));
    });
    port = await listen(server);
  });
  after(async () => {
    for (const s of sessions) s.destroy();
    await closeServer(server);
  });

  test('after a GOAWAY the open watch goes on, new requests go to a new connection', async () => {
    sessions.length = 0;
    const client = new KubeClient(access(port));
    assert.deepEqual(await client.request('GET', '/x'), { session: 0 });
    const abort = new AbortController();
    const events: string[] = [];
    const watch = client.stream('/api/v1/pods', { watch: 1 }, (e) => events.push(String(e)), abort.signal);
    await waitFor(() => events.length === 1, { what: 'the first watch event' });
    sessions[0]!.goaway(http2.constants.NGHTTP2_NO_ERROR);
    await waitFor(async () => ((await client.request('GET', '/x')) as { session: number }).session === 1, {
      what: 'a request on a second connection',
    });
    assert.equal(sessions.length, 2);
    // the watch on the old connection was not cut
    assert.ok(!sessions[0]!.destroyed);
    abort.abort();
    await watch;
    client.close();
  });

  test('a connection that breaks fails its pending POST, resends its pending GET, ends its watch; the next call reconnects', async () => {
    sessions.length = 0;
    const client = new KubeClient(access(port));
    const abort = new AbortController();
    let events = 0;
    const watch = client.stream('/api/v1/pods', { watch: 1 }, () => events++, abort.signal);
    await waitFor(() => events === 1, { what: 'the first watch event' });
    // a POST is never sent twice: it may have been acted on
    const pending = client.request('POST', '/hang', { body: {} }).catch((e: unknown) => e);
    // a GET that got no answer is sent once more, on a fresh connection
    const resent = client.request<{ session: number }>('GET', '/hang-once');
    await waitFor(() => hanging === 2, { what: 'both requests at the server' });
    assert.equal(sessions.length, 1);
    sessions[0]!.destroy();
    const err = await pending;
    assert.ok(err instanceof Error && !(err instanceof KubeApiError), String(err));
    await watch; // ended, without waiting for the abort
    assert.equal(abort.signal.aborted, false);
    assert.deepEqual(await resent, { session: 1 });
    assert.deepEqual(await client.request('GET', '/x'), { session: 1 });
    client.close();
  });

  test('a connection that goes silent (a NAT forgot it) fails its ping; the watch ends and the next call reconnects', async () => {
    sessions.length = 0;
    // A TCP relay in front of the server that can stop passing bytes without closing anything.
    const pairs: { client: Socket; upstream: Socket }[] = [];
    let silent = false;
    const relay = createTcpServer((c) => {
      const upstream = connectTcp(port, '127.0.0.1');
      pairs.push({ client: c, upstream });
      c.on('error', () => {});
      upstream.on('error', () => {});
      c.on('data', (d) => {
        if (!silent) upstream.write(d);
      });
      upstream.on('data', (d) => {
        if (!silent) c.write(d);
      });
    });
    const relayPort = await new Promise<number>((resolve) =>
      relay.listen(0, '127.0.0.1', () => resolve((relay.address() as AddressInfo).port)),
    );
    const client = new KubeClient(access(relayPort), 'test', { pingIntervalMs: 200, pingTimeoutMs: 1000 });
    try {
      const abort = new AbortController();
      let events = 0;
      let ended = false;
      const watch = client
        .stream('/api/v1/pods', { watch: 1 }, () => events++, abort.signal)
        .finally(() => {
          ended = true;
        });
      await waitFor(() => events === 1, { what: 'the first watch event' });
      // Still answering pings: the watch stays open across several ping intervals.
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(ended, false, 'a healthy watch was ended');
      silent = true;
      await waitFor(() => ended, { what: 'the silent connection to be given up', timeoutMs: 5000 });
      assert.equal(abort.signal.aborted, false);
      await watch.catch(() => undefined);
      // New connections through the relay pass bytes again.
      silent = false;
      assert.deepEqual(await client.request('GET', '/x'), { session: 1 });
      assert.equal(pairs.length, 2);
    } finally {
      client.close();
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    }
  });
});

describe('an answer cut short by a broken connection', () => {
  let server: http2.Http2SecureServer;
  let port: number;
  before(async () => {
    server = http2.createSecureServer({ cert: cert.cert, key: cert.key });
    server.on('stream', (stream) => {
      stream.on('error', () => {});
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      stream.write('{"kind":"PodList","items":[');
      setTimeout(() => stream.session?.destroy(), 20);
    });
    port = await listen(server);
  });
  after(async () => {
    await closeServer(server);
  });

  test('rejects with a network error instead of resolving with half a body', async () => {
    const client = new KubeClient(access(port));
    const err = await client.request('GET', '/api/v1/pods').then(
      (v) => ({ resolvedWith: v }),
      (e: unknown) => e,
    );
    assert.ok(err instanceof Error && !(err instanceof KubeApiError), JSON.stringify(err));
    assert.match(err.message, /connection lost/);
    client.close();
  });
});

describe('a server that accepts TCP connections and never answers', () => {
  const sockets = new Set<Socket>();
  const blackhole = createTcpServer((socket) => {
    sockets.add(socket); // accept and say nothing: the TLS handshake never completes
    socket.on('close', () => sockets.delete(socket));
    socket.resume(); // read (and drop) the client's bytes, so its close is seen
  });
  let port: number;
  before(async () => {
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    port = (blackhole.address() as AddressInfo).port;
  });
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => blackhole.close(resolve));
  });

  test('timeoutMs and the signal bound the request, an aborted watch resolves, close() drops the handshake', async () => {
    const client = new KubeClient(access(port));
    const timedOut = await client.request('GET', '/api/v1/pods', { timeoutMs: 200 }).catch((e: unknown) => e);
    assert.ok(timedOut instanceof Error);
    assert.match(timedOut.message, /timeout on GET \/api\/v1\/pods/);

    const abort = new AbortController();
    const aborted = client.request('GET', '/api/v1/pods', { signal: abort.signal }).catch((e: unknown) => e);
    const watchAbort = new AbortController();
    const watch = client.stream('/api/v1/pods', { watch: 1 }, () => {}, watchAbort.signal);
    abort.abort();
    watchAbort.abort();
    const err = await aborted;
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'AbortError');
    await watch;

    await waitFor(() => sockets.size === 1, { what: 'the handshake waiting at the server' });
    const pending = client.request('GET', '/api/v1/pods').catch((e: unknown) => e);
    client.close();
    const closed = await pending;
    assert.ok(closed instanceof Error);
    await waitFor(() => sockets.size === 0, { what: 'the client closing its half-open connection' });
  });
});
