/**
 * helm for the chart tests: the binary `npm run helm` builds from the Go module proxy (pinned in
 * tools/helm/go.mod), run with its own config, cache and data directories so no user setting leaks
 * in. Missing, the tests are skipped with the build hint, or fail under CI=true.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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

/**
 * The helm and kubectl commands of docs/getting-started.md from "### Or with Helm" to the end of
 * "## Upgrade and uninstall", as a user copies them (a line ending in `\` joined with the next).
 */
export function helmDocCommands(): string[] {
  const md = readFileSync(join(REPO, 'docs', 'getting-started.md'), 'utf8');
  const from = md.indexOf('### Or with Helm');
  const to = md.indexOf('\n## ', md.indexOf('## Upgrade and uninstall') + 3);
  const section = md.slice(from, to < 0 ? undefined : to);
  const out: string[] = [];
  for (const block of section.matchAll(/```(?:text|sh)\n([\s\S]*?)```/g)) {
    const joined = block[1]!.replace(/\\\n\s*/g, '');
    for (const line of joined.split('\n')) if (/^(helm|kubectl) /.test(line)) out.push(line);
  }
  return out;
}

/** Runs one documented command line exactly as written, through sh, with this helm and `kubeconfig`. */
export function typedDocCommand(line: string, kubeconfig: string, timeoutMs = 180_000): Promise<RunResult> {
  const bin = helmBinary();
  if (!bin) throw new Error(HELM_BUILD_HINT);
  return runCommand('sh', ['-c', line], {
    cwd: REPO,
    timeoutMs,
    env: {
      PATH: `${dirname(bin)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      HOME: home,
      HELM_CONFIG_HOME: join(home, 'config'),
      HELM_CACHE_HOME: join(home, 'cache'),
      HELM_DATA_HOME: join(home, 'data'),
      KUBECONFIG: kubeconfig,
    },
  });
}
