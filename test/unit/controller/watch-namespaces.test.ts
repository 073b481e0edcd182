/**
 * `--watch-namespaces`: what the controller accepts and refuses (before it touches any cluster),
 * and that a cache of watched namespaces asks the API server only for those namespaces and shows
 * nothing of any other.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { NamespacedCache, parseWatchNamespaces } from '../../../src/controller/namespaces.ts';
import { KINDS } from '../../../src/kube/paths.ts';
import type { ListWatchClient } from '../../../src/kube/reflector.ts';

const BIN = new URL('../../../bin/kubevirtbmc.js', import.meta.url).pathname;

function run(args: string[], env: Record<string, string> = {}) {
  const e = { ...process.env, ...env };
  if (!('KUBEVIRTBMC_WATCH_NAMESPACES' in env)) delete e.KUBEVIRTBMC_WATCH_NAMESPACES;
  const r = spawnSync(process.execPath, [BIN, 'controller', ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: e,
  });
  return { code: r.status, err: r.stderr };
}

describe('parseWatchNamespaces', () => {
  test('a comma-separated list, spaces around names ignored; empty means every namespace', () => {
    assert.deepEqual(parseWatchNamespaces('lab'), ['lab']);
    assert.deepEqual(parseWatchNamespaces('lab, team-a,b2'), ['lab', 'team-a', 'b2']);
    assert.equal(parseWatchNamespaces(''), null);
    assert.equal(parseWatchNamespaces('  '), null);
    assert.deepEqual(parseWatchNamespaces('a'.repeat(63)), ['a'.repeat(63)]);
  });

  test('names that cannot be namespaces are refused, saying what a name must be', () => {
    for (const bad of ['Lab', 'team_a', '-a', 'a-', 'a.b', 'a/b', 'a'.repeat(64), '*'])
      assert.throws(
        () => parseWatchNamespaces(`ok,${bad}`),
        (err: Error) =>
          err.message.includes(`"${bad}" is not a namespace name`) && /DNS-1123 label/.test(err.message),
        bad,
      );
    assert.throws(
      () => parseWatchNamespaces('a,,b'),
      /empty namespace name: give names separated by single commas/,
    );
    assert.throws(() => parseWatchNamespaces('a,'), /empty namespace name/);
    assert.throws(() => parseWatchNamespaces('a,b,a'), /namespace "a" is given twice/);
  });
});

describe('kubevirtbmc controller --watch-namespaces', () => {
  test('a bad value is refused at start, before the kubeconfig is even read', () => {
    const r = run(['--watch-namespaces=lab,Team_A', '--kubeconfig', '/nonexistent']);
    assert.equal(r.code, 2);
    assert.match(
      r.err,
      /option '--watch-namespaces <a,b>' argument 'lab,Team_A' is invalid\. "Team_A" is not a namespace name: use a DNS-1123 label/,
    );
    assert.doesNotMatch(r.err, /cannot load the kubeconfig/);
  });

  test('$KUBEVIRTBMC_WATCH_NAMESPACES is read when the flag is absent, and checked the same way', () => {
    const r = run(['--kubeconfig', '/nonexistent'], { KUBEVIRTBMC_WATCH_NAMESPACES: 'lab,,b' });
    assert.equal(r.code, 2);
    assert.match(
      r.err,
      /value 'lab,,b' from env 'KUBEVIRTBMC_WATCH_NAMESPACES' is invalid\. .*empty namespace name/,
    );
  });

  test('good values (and an empty one: every namespace) get past the flags to the kubeconfig', () => {
    for (const args of [['--watch-namespaces=lab,team-a'], ['--watch-namespaces='], []]) {
      const r = run([...args, '--kubeconfig', '/nonexistent']);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, /^kubevirtbmc controller: cannot load the kubeconfig: /m);
    }
  });
});

/** A client answering lists with the objects of the namespace the path names, and never-ending watches. */
function fakeClient(objects: Array<{ ns: string; name: string }>) {
  const paths: string[] = [];
  const client: ListWatchClient = {
    async listAll<T>(path: string) {
      paths.push(path);
      const ns = /\/namespaces\/([^/]+)\//.exec(path)?.[1];
      const items = objects
        .filter((o) => ns === undefined || o.ns === ns)
        .map((o) => ({ metadata: { name: o.name, namespace: o.ns, resourceVersion: '1' } }));
      return { metadata: { resourceVersion: '1' }, items: items as T[] };
    },
    stream(_path, _query, _onObject, signal) {
      return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
    },
  };
  return { client, paths };
}

describe('NamespacedCache', () => {
  const objects = [
    { ns: 'a', name: 'x' },
    { ns: 'b', name: 'y' },
    { ns: 'c', name: 'z' },
  ];

  test('with namespaces: one namespaced list per namespace, and nothing of the others', async () => {
    const { client, paths } = fakeClient(objects);
    const cache = new NamespacedCache(client, KINDS.Deployment, ['a', 'c'], { labelSelector: 'k=v' });
    const seen: string[] = [];
    cache.on((type, o) => seen.push(`${type} ${o.metadata?.namespace}/${o.metadata?.name}`));
    assert.equal(cache.synced, false);
    await cache.start();
    try {
      assert.equal(cache.synced, true);
      assert.deepEqual(paths.sort(), [
        '/apis/apps/v1/namespaces/a/deployments',
        '/apis/apps/v1/namespaces/c/deployments',
      ]);
      assert.deepEqual(cache.namespaces, ['a', 'c']);
      assert.deepEqual(
        cache
          .list()
          .map((o) => o.metadata?.name)
          .sort(),
        ['x', 'z'],
      );
      assert.deepEqual(cache.list('b'), []);
      assert.equal(cache.get('b', 'y'), undefined);
      assert.equal(cache.get('a', 'x')?.metadata?.name, 'x');
      assert.deepEqual(seen.sort(), ['add a/x', 'add c/z']);
      // a write observed in an unwatched namespace is not cached; one in a watched namespace is
      cache.observe({ metadata: { name: 'w', namespace: 'b', resourceVersion: '5' } });
      cache.observe({ metadata: { name: 'w', namespace: 'a', resourceVersion: '5' } });
      assert.deepEqual(cache.list('b'), []);
      assert.equal(cache.get('a', 'w')?.metadata?.name, 'w');
      cache.forget('a', 'w');
      assert.equal(cache.get('a', 'w'), undefined);
      assert.equal(cache.watches('a'), true);
      assert.equal(cache.watches('b'), false);
    } finally {
      await cache.stop();
    }
  });

  test('without namespaces: one cluster-wide list, as before', async () => {
    const { client, paths } = fakeClient(objects);
    const cache = new NamespacedCache(client, KINDS.Deployment, null, {});
    await cache.start();
    try {
      assert.deepEqual(paths, ['/apis/apps/v1/deployments']);
      assert.equal(cache.namespaces, null);
      assert.equal(cache.list().length, 3);
      assert.equal(cache.list('b').length, 1);
    } finally {
      await cache.stop();
    }
  });
});
