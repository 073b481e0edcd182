import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunResult, runCommand } from './run.ts';

export type KubectlResult = RunResult;

/**
 * Runs the real kubectl against a kubeconfig, asynchronously (the sim runs in this process, so a
 * synchronous spawn would deadlock), with its own discovery cache and a hard timeout.
 */
export function kubectl(
  kubeconfig: string,
  args: string[],
  opts: { input?: string; timeoutMs?: number; cacheDir?: string; env?: Record<string, string> } = {},
): Promise<KubectlResult> {
  const cacheDir = opts.cacheDir ?? mkdtempSync(join(tmpdir(), 'kubectl-cache-'));
  return runCommand('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', cacheDir, ...args], {
    ...(opts.input !== undefined ? { input: opts.input } : {}),
    timeoutMs: opts.timeoutMs ?? 30_000,
    env: { ...process.env, ...(opts.env ?? {}) },
  });
}

/** Starts a long-running kubectl (e.g. `get -w`); read `output()` and `stop()` it. */
export function kubectlStream(
  kubeconfig: string,
  args: string[],
  opts: { cacheDir?: string; timeoutMs?: number } = {},
): { child: ChildProcess; output: () => string; stop: () => Promise<void> } {
  const cacheDir = opts.cacheDir ?? mkdtempSync(join(tmpdir(), 'kubectl-cache-'));
  const child = spawn('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', cacheDir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  const closed = new Promise<void>((r) => child.on('close', () => r()));
  return {
    child,
    output: () => out,
    stop: async () => {
      clearTimeout(timer);
      child.kill('SIGTERM');
      await closed;
    },
  };
}
