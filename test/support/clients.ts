import { spawnSync } from 'node:child_process';

/**
 * Real clients the interop tests drive, and the Debian package each comes from. A test asks for a
 * client with `requireClient`: when it is missing, the test is skipped with a loud message naming
 * the package, or, under CI=true, fails, because a CI run that skips the real clients proves nothing.
 */
export const CLIENTS = {
  ipmitool: { check: ['ipmitool', '-V'], pkg: 'ipmitool' },
  ipmipower: { check: ['ipmipower', '--version'], pkg: 'freeipmi-tools' },
  'ipmi-chassis': { check: ['ipmi-chassis', '--version'], pkg: 'freeipmi-tools' },
  'ipmi-chassis-config': { check: ['ipmi-chassis-config', '--version'], pkg: 'freeipmi-tools' },
  'bmc-info': { check: ['bmc-info', '--version'], pkg: 'freeipmi-tools' },
  ipmiconsole: { check: ['ipmiconsole', '--version'], pkg: 'freeipmi-tools' },
  pyghmi: { check: ['/usr/bin/python3', '-c', 'import pyghmi.ipmi.command'], pkg: 'python3-pyghmi' },
  sushy: { check: ['/usr/bin/python3', '-c', 'import sushy'], pkg: 'python3-sushy' },
  redfishtool: { check: ['redfishtool', '-V'], pkg: 'redfishtool' },
  socat: { check: ['socat', '-V'], pkg: 'socat' },
  kubectl: { check: ['kubectl', 'version', '--client'], pkg: 'kubectl (preinstalled)' },
} as const;

export type ClientName = keyof typeof CLIENTS;

const cache = new Map<ClientName, boolean>();

export function hasClient(name: ClientName): boolean {
  let ok = cache.get(name);
  if (ok === undefined) {
    const [cmd, ...args] = CLIENTS[name].check;
    const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 15_000 });
    ok = r.status === 0;
    cache.set(name, ok);
  }
  return ok;
}

/**
 * Returns `false` when every named client is present. Otherwise returns a skip message, or throws
 * under CI=true. Use as `test('…', { skip: missingClients('ipmitool') }, …)`.
 */
export function missingClients(...names: ClientName[]): string | false {
  const missing = names.filter((n) => !hasClient(n));
  if (missing.length === 0) return false;
  const pkgs = [...new Set(missing.map((n) => CLIENTS[n].pkg))].join(' ');
  const message = `MISSING REAL CLIENT ${missing.join(', ')}: install with \`apt-get install ${pkgs}\``;
  if (process.env.CI === 'true') throw new Error(`${message} (CI=true: a missing client is a failure)`);
  console.error(`\n*** SKIPPING: ${message} ***\n`);
  return message;
}
