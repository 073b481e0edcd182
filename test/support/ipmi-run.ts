import { spawn } from 'node:child_process';

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a real client asynchronously (the BMC under test lives in this process, so a blocking spawn
 * would deadlock) and kills it after `timeoutMs`.
 */
export function run(cmd: string, args: readonly string[], timeoutMs = 20_000): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: String(err) });
    });
  });
}

/** ipmitool against a local BMC, with one retry and a 1 s timeout so failures are fast. */
export function ipmitool(
  port: number,
  iface: string[],
  user: { username: string; password: string },
  args: string[],
): Promise<RunResult> {
  return run('ipmitool', [
    ...iface,
    '-H',
    '127.0.0.1',
    '-p',
    String(port),
    '-U',
    user.username,
    '-P',
    user.password,
    '-R',
    '1',
    '-N',
    '1',
    ...args,
  ]);
}
