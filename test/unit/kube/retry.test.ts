// Retry-After (seconds and HTTP-date) and which failed requests are sent again, how often, and
// after how long; the pager's page following and its answer to an expired continue token.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KubeApiError } from '../../../src/kube/client.ts';
import { listAll } from '../../../src/kube/pager.ts';
import { parseRetryAfter, retryAfterMs, retryDelayMs, sleep } from '../../../src/kube/retry.ts';

describe('Retry-After', () => {
  const now = Date.parse('2026-03-01T12:00:00Z');

  test('delay-seconds', () => {
    assert.equal(parseRetryAfter('0', now), 0);
    assert.equal(parseRetryAfter('1', now), 1000);
    assert.equal(parseRetryAfter(' 120 ', now), 120_000);
    assert.equal(parseRetryAfter(['3', '9'], now), 3000);
  });

  test('HTTP-date: IMF-fixdate, RFC 850 and asctime; the past is 0', () => {
    assert.equal(parseRetryAfter('Sun, 01 Mar 2026 12:00:05 GMT', now), 5000);
    assert.equal(parseRetryAfter('Sunday, 01-Mar-26 12:00:30 GMT', now), 30_000);
    assert.equal(parseRetryAfter('Sun Mar  1 12:01:00 2026', now) !== undefined, true);
    assert.equal(parseRetryAfter('Sun, 01 Mar 2026 11:00:00 GMT', now), 0);
  });

  test('absent or unparseable', () => {
    assert.equal(parseRetryAfter(undefined, now), undefined);
    assert.equal(parseRetryAfter('', now), undefined);
    assert.equal(parseRetryAfter('-1', now), undefined);
    assert.equal(parseRetryAfter('1.5', now), undefined);
    assert.equal(parseRetryAfter('soon', now), undefined);
  });
});

describe('what is retried', () => {
  const err = (code: number, retryAfterSeconds?: number) =>
    new KubeApiError(
      code,
      'X',
      'x',
      retryAfterSeconds === undefined ? undefined : ({ retryAfterSeconds } as never),
    );
  const policy = { maxRetries: 3, maxRetryAfterMs: 10_000 };

  test('429: every method, after Retry-After (1 s without one)', () => {
    for (const m of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
      assert.equal(retryDelayMs(err(429, 2), m, 1, policy), 2000, m);
      assert.equal(retryDelayMs(err(429), m, 1, policy), 1000, m);
    }
    assert.equal(retryAfterMs(err(429, 4)), 4000);
  });

  test('503 only with a Retry-After; other 5xx with one only for reads', () => {
    assert.equal(retryDelayMs(err(503, 1), 'POST', 1, policy), 1000);
    assert.equal(retryDelayMs(err(503), 'GET', 1, policy), undefined);
    assert.equal(retryDelayMs(err(500, 1), 'GET', 1, policy), 1000);
    assert.equal(retryDelayMs(err(504, 1), 'POST', 1, policy), undefined);
    assert.equal(retryDelayMs(err(500), 'GET', 1, policy), undefined);
  });

  test('never other statuses, nor errors that are not API answers', () => {
    for (const code of [400, 401, 403, 404, 409, 410, 422])
      assert.equal(retryDelayMs(err(code, 1), 'GET', 1, policy), undefined);
    assert.equal(retryDelayMs(new Error('ECONNRESET'), 'GET', 1, policy), undefined);
    assert.equal(retryDelayMs({ code: 429 }, 'GET', 1, policy), undefined);
  });

  test('capped wait, bounded attempts', () => {
    assert.equal(retryDelayMs(err(429, 3600), 'GET', 1, policy), 10_000);
    assert.equal(retryDelayMs(err(429, 1), 'GET', 3, policy), 1000);
    assert.equal(retryDelayMs(err(429, 1), 'GET', 4, policy), undefined);
    assert.equal(retryDelayMs(err(429, 1), 'GET', 1, { maxRetries: 0, maxRetryAfterMs: 1 }), undefined);
  });

  test('sleep ends early with an AbortError when aborted', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 20);
    await assert.rejects(sleep(10_000, ac.signal), { name: 'AbortError' });
    assert.ok(Date.now() - t0 < 5000);
  });
});

describe('listAll', () => {
  type Q = Record<string, string | number | boolean | undefined>;
  const items = Array.from({ length: 7 }, (_, i) => ({ metadata: { name: `o${i}` } }));
  /** A collection served in pages; `expireAt`: the request (1-based) whose continue token has expired. */
  function server(expireAt?: number) {
    const seen: Q[] = [];
    return {
      seen,
      async request<R>(_method: string, _path: string, options?: { query?: Q }): Promise<R> {
        const q = options?.query ?? {};
        seen.push(q);
        if (expireAt === seen.length)
          throw new KubeApiError(410, 'Expired', 'The provided continue parameter is too old');
        const start = q.continue ? Number(q.continue) : 0;
        const limit = q.limit ? Number(q.limit) : items.length;
        const end = Math.min(items.length, start + limit);
        return {
          kind: 'ThingList',
          apiVersion: 'v1',
          metadata: { resourceVersion: '42', ...(end < items.length ? { continue: String(end) } : {}) },
          items: items.slice(start, end),
        } as R;
      },
    };
  }

  test('follows continue tokens, keeping the other query parameters', async () => {
    const s = server();
    const list = await listAll<(typeof items)[number]>(s, '/api/v1/things', {
      limit: 3,
      query: { labelSelector: 'a=b' },
    });
    assert.deepEqual(
      list.items.map((i) => i.metadata.name),
      items.map((i) => i.metadata.name),
    );
    assert.deepEqual(list.metadata, { resourceVersion: '42' });
    assert.equal(list.kind, 'ThingList');
    assert.deepEqual(s.seen, [
      { labelSelector: 'a=b', limit: 3 },
      { labelSelector: 'a=b', limit: 3, continue: '3' },
      { labelSelector: 'a=b', limit: 3, continue: '6' },
    ]);
  });

  test('default page size 500; limit 0 asks once for everything', async () => {
    const s = server();
    await listAll(s, '/x');
    assert.deepEqual(s.seen, [{ limit: 500 }]);
    const t = server();
    assert.equal((await listAll(t, '/x', { limit: 0 })).items.length, 7);
    assert.deepEqual(t.seen, [{}]);
  });

  test('an expired continue token: the whole list, without limit', async () => {
    const s = server(2);
    const list = await listAll(s, '/x', { limit: 3 });
    assert.equal(list.items.length, 7);
    assert.deepEqual(s.seen, [{ limit: 3 }, { limit: 3, continue: '3' }, {}]);
  });

  test('a 410 on the first page is the caller’s', async () => {
    await assert.rejects(listAll(server(1), '/x', { limit: 3 }), { code: 410 });
  });
});
