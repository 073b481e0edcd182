import { type RunResult, runCommand } from './run.ts';

export type { RunResult };

/**
 * Runs a real client asynchronously (the BMC under test lives in this process) and kills it after
 * `timeoutMs`; a client that cannot be started is a result with code -1.
 */
export function run(cmd: string, args: readonly string[], timeoutMs = 20_000): Promise<RunResult> {
  return runCommand(cmd, args, { timeoutMs }).catch((err: unknown) => ({
    code: -1,
    stdout: '',
    stderr: String(err),
  }));
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
