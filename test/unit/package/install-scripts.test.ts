/**
 * `npm ci` and `npm start`: what package.json tells npm. npm releases that check `allowScripts`
 * warn on every `npm ci` about each dependency with an install script the field does not name
 * (docs/getting-started.md explains the one there is); `npm start` must exec node, so that a Ctrl-C
 * ends it with the demo's own status instead of a shell's death by SIGINT.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const read = (f: string) => JSON.parse(readFileSync(new URL(`../../../${f}`, import.meta.url), 'utf8'));

test('every dependency with an install script is allowed or denied by name in allowScripts', () => {
  const pkg = read('package.json') as { allowScripts?: Record<string, boolean> };
  const lock = read('package-lock.json') as {
    packages: Record<string, { hasInstallScript?: boolean; link?: boolean }>;
  };
  const withScripts = Object.entries(lock.packages)
    .filter(([path, p]) => path.startsWith('node_modules/') && p.hasInstallScript && !p.link)
    .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length))
    .sort();
  assert.ok(withScripts.length > 0, 'the lockfile marks esbuild as having an install script');
  const named = Object.keys(pkg.allowScripts ?? {}).sort();
  assert.deepEqual(named, withScripts);
  assert.equal(pkg.allowScripts?.esbuild, false, "esbuild's postinstall is not needed: denied");
});

test('npm start execs node, so Ctrl-C ends it with the demo status (0), not a shell killed by SIGINT', () => {
  const pkg = read('package.json') as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.start, 'exec node scripts/start.mjs');
});
