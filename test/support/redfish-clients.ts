import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * Gate for redfishtool. `test/support/clients.ts` checks it with `redfishtool --version`, which
 * redfishtool 1.1.5 rejects (exit 1: it knows only `-V`), so that check always reports it missing.
 * Same contract as `missingClients`: false when present, a loud skip message otherwise, a throw
 * under CI=true. Replace by `missingClients('redfishtool')` once clients.ts uses `-V`.
 */
export function missingRedfishtool(): string | false {
  const r = spawnSync('redfishtool', ['-V'], { stdio: 'ignore', timeout: 15_000 });
  if (r.status === 0) return false;
  const message = 'MISSING REAL CLIENT redfishtool: install with `apt-get install redfishtool`';
  if (process.env.CI === 'true') throw new Error(`${message} (CI=true: a missing client is a failure)`);
  console.error(`\n*** SKIPPING: ${message} ***\n`);
  return message;
}

// biome-ignore lint/suspicious/noExplicitAny: JSON lines printed by the Python drivers
export type PyLine = Record<string, any>;

/**
 * Runs one of the Python drivers of the real Redfish clients (sushy) with Debian's python3 and
 * returns the JSON lines it printed, one per operation; a line with an `error` fails the test.
 */
export async function pythonLines(script: string, args: readonly string[]): Promise<PyLine[]> {
  const { stdout } = await promisify(execFile)('/usr/bin/python3', [script, ...args], {
    timeout: 90_000,
    encoding: 'utf8',
  });
  const lines = stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as PyLine);
  for (const l of lines) assert.equal(l.error, undefined, `${l.op}: ${l.error}`);
  return lines;
}
