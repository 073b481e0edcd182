import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { launchCommand } from '../../../src/cli/demo.ts';

const BIN = new URL('../../../bin/kubevirtbmc.js', import.meta.url).pathname;

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('--help lists every subcommand and exits 0', () => {
  const r = run('--help');
  assert.equal(r.code, 0);
  for (const sub of ['demo', 'sim', 'controller', 'agent'])
    assert.match(r.out, new RegExp(`^\\s+${sub} `, 'm'));
});

test('--version prints the package version', () => {
  const r = run('--version');
  assert.equal(r.code, 0);
  assert.match(r.out.trim(), /^\d+\.\d+\.\d+$/);
});

test('each subcommand has --help describing its flags', () => {
  for (const [sub, flag] of [
    ['demo', '--api-port'],
    ['sim', '--kubeconfig'],
    ['controller', '--placement'],
    ['agent', '--vm'],
  ] as const) {
    const r = run(sub, '--help');
    assert.equal(r.code, 0, sub);
    assert.ok(r.out.includes(flag), `${sub} --help mentions ${flag}`);
  }
});

test('sim --help shows its port default as a number and the choices of --timing', () => {
  const r = run('sim', '--help');
  assert.equal(r.code, 0, r.err);
  const help = r.out.replace(/\s+/g, ' ');
  assert.match(help, /--port <port> .*\(default: 16443\)/);
  assert.doesNotMatch(help, /default: "16443"/);
  assert.match(help, /--timing <timing> .*\(choices: "realistic", "fast", default: "realistic"\)/);
});

test('sim refuses a --timing it does not know, naming the choices', () => {
  const r = run('sim', '--timing', 'slow');
  assert.equal(r.code, 2);
  assert.match(r.err, /argument 'slow' is invalid\. Allowed choices are realistic, fast\./);
});

test('the demo suggests flags in the form it was started with: npm start -- or kubevirtbmc demo', () => {
  assert.equal(
    launchCommand({ npm_lifecycle_event: 'start', npm_package_name: 'kubevirtbmc' }),
    'npm start --',
  );
  assert.equal(launchCommand({}), 'kubevirtbmc demo');
  // another package's start script that runs our binary: the user typed its command, not ours
  assert.equal(
    launchCommand({ npm_lifecycle_event: 'start', npm_package_name: 'other' }),
    'kubevirtbmc demo',
  );
});

test('an unknown subcommand fails with a one-line error and the usage', () => {
  const r = run('frobnicate');
  assert.notEqual(r.code, 0);
  assert.match(r.err, /^error: unknown command 'frobnicate'$/m);
  assert.match(r.err, /Usage: kubevirtbmc/);
});

test('an unknown flag fails with a one-line error and the usage', () => {
  const r = run('agent', '--frobnicate');
  assert.notEqual(r.code, 0);
  assert.match(r.err, /^error: unknown option '--frobnicate'$/m);
  assert.match(r.err, /Usage: kubevirtbmc agent/);
});

test('no subcommand fails and prints the usage', () => {
  const r = run();
  assert.notEqual(r.code, 0);
  assert.match(r.err, /Usage: kubevirtbmc/);
});
