import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/**
 * The DMTF Redfish validators (PyPI: redfish-service-validator, redfish-protocol-validator,
 * redfish-interop-validator) as `.ci/run` installs them: a virtualenv in ~/.cache/kubevirtbmc. Tests run them, and the BMC they check, in a network namespace of their
 * own with only loopback up (the Protocol Validator sends SSDP multicast otherwise).
 */
const CACHE = join(homedir(), '.cache', 'kubevirtbmc');
export const VALIDATORS_VENV = process.env.KUBEVIRTBMC_VALIDATORS_VENV ?? join(CACHE, 'venv-validators');

export function validatorBin(
  name: 'rf_service_validator' | 'rf_protocol_validator' | 'rf_interop_validator',
): string {
  return join(VALIDATORS_VENV, 'bin', name);
}

/** The pins `.ci/run` installed (`pins.txt` in the virtualenv), for the test's log. */
export function validatorPins(): string {
  const f = join(VALIDATORS_VENV, 'pins.txt');
  return existsSync(f) ? readFileSync(f, 'utf8').trim().replace(/\n/g, ' ') : '(no pins.txt)';
}

/**
 * The prefix that runs `ip netns` as root: nothing when this process is root, else `sudo -n` when
 * it may (GitHub's runners), else null.
 */
function rootPrefix(): string[] | null {
  if (process.getuid?.() === 0) return [];
  const r = spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore', timeout: 15_000 });
  return r.status === 0 ? ['sudo', '-n'] : null;
}
const ROOT = rootPrefix();

/** argv for `ip args…` as root. */
export function ipCommand(args: readonly string[]): [string, string[]] {
  const argv = [...(ROOT ?? []), 'ip', ...args];
  return [argv[0]!, argv.slice(1)];
}

/**
 * `false` when the validators and network namespaces are available; otherwise a skip
 * message, or a throw under CI=true (where `.ci/run` has installed them).
 */
export function missingValidators(): string | false {
  const problems: string[] = [];
  for (const b of ['rf_service_validator', 'rf_protocol_validator', 'rf_interop_validator'] as const) {
    if (!existsSync(validatorBin(b))) problems.push(`${validatorBin(b)} missing`);
  }
  const [cmd, args] = ipCommand(['netns', 'list']);
  const ip = ROOT ? spawnSync(cmd, args, { stdio: 'ignore', timeout: 15_000 }) : null;
  if (ip?.status !== 0) problems.push('network namespaces need `ip` (iproute2) and root or `sudo -n`');
  if (problems.length === 0) return false;
  const message = `MISSING DMTF VALIDATORS: ${problems.join('; ')} (run .ci/run, or see docs/testing.md)`;
  if (process.env.CI === 'true') throw new Error(`${message} (CI=true: a missing client is a failure)`);
  console.error(`\n*** SKIPPING: ${message} ***\n`);
  return message;
}

/** A network namespace with only `lo`, up. `remove()` deletes it. */
export function loopbackNamespace(): { name: string; remove(): void } {
  const name = `kvbmc-conf-${process.pid}`;
  const run = (args: string[], check = true) => {
    const [cmd, argv] = ipCommand(args);
    const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 15_000 });
    if (check && r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  };
  run(['netns', 'del', name], false); // a leftover of a killed run
  run(['netns', 'add', name]);
  run(['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
  return { name, remove: () => run(['netns', 'del', name], false) };
}

export interface StandaloneBmc {
  readonly port: number;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts test/support/redfish-standalone.ts inside `netns` (a child process: `ip netns exec`), and
 * waits for the port it prints (bounded: 60 s).
 */
export function startStandaloneBmc(
  netns: string,
  tls?: { certFile: string; keyFile: string },
): Promise<StandaloneBmc> {
  const script = join(import.meta.dirname, 'redfish-standalone.ts');
  const [cmd, args] = ipCommand(['netns', 'exec', netns, process.execPath, '--import', 'tsx', script]);
  if (tls) args.push('--tls-cert', tls.certFile, '--tls-key', tls.keyFile);
  // from the repository root, where `--import tsx` resolves
  const child = spawn(cmd, args, {
    cwd: join(import.meta.dirname, '..', '..'),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    child.stdin!.end(); // the script stops when its stdin closes
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`standalone BMC did not start in 60 s: ${stderr}`));
    }, 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`standalone BMC exited (${code}): ${stderr}`));
    });
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      const port = Number((JSON.parse(line) as { port: number }).port);
      resolve({ port, child, stop });
    });
  });
}

/** The PASS/WARN/FAIL/NOT TESTED table the Service and Interop Validators print last. */
export function summaryTable(stdout: string): {
  pass: number;
  warn: number;
  fail: number;
  notTested: number;
} {
  const m =
    /\|\s*PASS\s*\|\s*WARN\s*\|\s*FAIL\s*\|\s*NOT TESTED\s*\|\s*\n[+-]+\n\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|/.exec(
      stdout,
    );
  if (!m) throw new Error(`no summary table in the validator's output:\n${stdout.slice(-3000)}`);
  return { pass: Number(m[1]), warn: Number(m[2]), fail: Number(m[3]), notTested: Number(m[4]) };
}

/** Each `FAIL - …` line of a Service or Interop Validator debug log, with the URI being validated. */
export function failuresInLog(log: string): Array<{ uri: string; message: string }> {
  const out: Array<{ uri: string; message: string }> = [];
  let uri = '';
  for (const line of log.split('\n')) {
    const v = / - Validating (\S+?)\.\.\.$/.exec(line);
    if (v) uri = v[1] ?? '';
    const f = / - FAIL - (.*)$/.exec(line);
    if (f) out.push({ uri, message: f[1] ?? '' });
  }
  return out;
}
