/**
 * helm for the chart tests: the binary `npm run helm` builds from the Go module proxy (pinned in
 * tools/helm/go.mod), run with its own config, cache and data directories so no user setting leaks
 * in. Missing, the tests are skipped with the build hint, or fail under CI=true.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HELM_BUILD_HINT, helmBinary } from '../../scripts/helm-binary.ts';
import { type RunResult, runCommand } from './run.ts';

export const REPO = new URL('../../', import.meta.url).pathname;
export const CHART = join(REPO, 'deploy', 'chart');

/** A skip message when helm is not built, false when it is; throws under CI=true. */
export function missingHelm(): string | false {
  if (helmBinary()) return false;
  if (process.env.CI === 'true') throw new Error(`${HELM_BUILD_HINT} (CI=true: a missing tool is a failure)`);
  console.error(`\n*** SKIPPING: ${HELM_BUILD_HINT} ***\n`);
  return HELM_BUILD_HINT;
}

const home = mkdtempSync(join(tmpdir(), 'helm-home-'));

/** Runs helm with `args` (from the repository), isolated from the user's helm settings. */
export function helm(args: string[], timeoutMs = 120_000): Promise<RunResult> {
  const bin = helmBinary();
  if (!bin) throw new Error(HELM_BUILD_HINT);
  return runCommand(bin, args, {
    cwd: REPO,
    timeoutMs,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      HELM_CONFIG_HOME: join(home, 'config'),
      HELM_CACHE_HOME: join(home, 'cache'),
      HELM_DATA_HOME: join(home, 'data'),
    },
  });
}

export async function helmOk(args: string[], timeoutMs?: number): Promise<string> {
  const r = await helm(args, timeoutMs);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}
