/**
 * Running `kubevirtbmc demo` as a person does (a child process in its own process group, so a
 * SIGINT to the group is exactly a Ctrl-C in a terminal), reading its table, and the registry of
 * commands the end-to-end tests ran, which the docs are checked against.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type RunResult, runCommand } from '../support/run.ts';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

export interface Row {
  vm: string;
  runStrategy: string;
  power: string;
  ipmi: string;
  redfish: string;
  username: string;
  password: string;
}

export interface Printed {
  rows: Row[];
  commands: { ipmitool: string; ipmiconsole: string; curl: string; kubectl: string };
  kubeconfig: string;
  apiPort: number;
}

export class DemoProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn(cmd, args, { cwd: REPO, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
    this.child.stdout!.on('data', (d: Buffer) => {
      this.stdout += d;
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d;
    });
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  get pgid(): number {
    return this.child.pid!;
  }

  /** Resolves with what the table says once the demo prints "Press Ctrl-C". */
  async ready(timeoutMs = 240_000): Promise<Printed> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => {
      exited = true;
    });
    while (!this.stdout.includes('Press Ctrl-C')) {
      if (exited) throw new Error(`the demo exited before it was ready:\n${this.stdout}\n${this.stderr}`);
      if (Date.now() > deadline)
        throw new Error(`the demo was not ready in time:\n${this.stdout}\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return parsePrinted(this.stdout);
  }

  /** Ctrl-C in a terminal: SIGINT to every process of the foreground group. */
  interrupt(): void {
    try {
      process.kill(-this.pgid, 'SIGINT');
    } catch {}
  }

  /** True while any process of its group is alive. */
  groupAlive(): boolean {
    try {
      process.kill(-this.pgid, 0);
      return true;
    } catch {
      return false;
    }
  }

  /** Last resort for a failed test: nothing may outlive it. */
  kill(): void {
    try {
      process.kill(-this.pgid, 'SIGKILL');
    } catch {}
  }
}

export function parsePrinted(out: string): Printed {
  const rows: Row[] = [];
  const re =
    /^(\S+)\s+(Always|RerunOnFailure|Halted|Manual|Once)\s+(\S+)\s+(127\.0\.0\.1:\d+)\s+(http:\/\/127\.0\.0\.1:\d+)\s+(\S+)\s+(\S+)$/gm;
  for (const m of out.matchAll(re))
    rows.push({
      vm: m[1]!,
      runStrategy: m[2]!,
      power: m[3]!,
      ipmi: m[4]!,
      redfish: m[5]!,
      username: m[6]!,
      password: m[7]!,
    });
  const line = (prefix: string) => {
    const m = new RegExp(`^  (${prefix} .*)$`, 'm').exec(out);
    if (!m) throw new Error(`the demo printed no ${prefix} command:\n${out}`);
    return m[1]!;
  };
  const commands = {
    ipmitool: line('ipmitool'),
    ipmiconsole: line('ipmiconsole'),
    curl: line('curl'),
    kubectl: line('kubectl'),
  };
  const kubeconfig = /--kubeconfig (\S+)/.exec(commands.kubectl)![1]!;
  const apiPort = Number(/cluster up: https:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
  return { rows, commands, kubeconfig, apiPort };
}

export function tcpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export function udpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export type Run = RunResult;

/** Runs one command line through sh, as pasted into a terminal, with a time limit. */
export function sh(command: string, env: NodeJS.ProcessEnv = process.env, timeoutMs = 60_000): Promise<Run> {
  return runCommand('sh', ['-c', command], { cwd: REPO, env, timeoutMs });
}

// ---- the registry of commands run, and the commands the docs show ----

/**
 * The shape of a command with what differs per run (ports, passwords, kubeconfig paths, example
 * image URLs) replaced by placeholders, so a documented example matches the command a test ran.
 */
export function normalize(command: string): string {
  return command
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT')
    .replace(/ -p \d+/g, ' -p PORT')
    .replace(/ -P \S+/g, ' -P PASSWORD')
    .replace(/^(ipmiconsole .*) -p \S+/, '$1 -p PASSWORD')
    .replace(/ -u (\w+):\S+/g, ' -u $1:PASSWORD')
    .replace(/--kubeconfig \S+/g, '--kubeconfig KUBECONFIG')
    .replace(/KUBECONFIG=\S+/g, 'KUBECONFIG=KUBECONFIG')
    .replace(/https?:\/\/images\.example\.com\/[^"'\s]+/g, 'IMAGE_URL');
}

export const ran = new Set<string>();

export function record(command: string): void {
  ran.add(normalize(command));
}

/** Commands in the ```sh blocks of a Markdown file: continuations joined, comments dropped, `&&` split. */
export function docCommands(file: string): string[] {
  const text = readFileSync(new URL(file, `file://${REPO}`), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^```(?:sh|bash|shell)\n([\s\S]*?)^```/gm)) {
    const joined = m[1]!.replace(/\\\n\s*/g, ' ');
    for (const raw of joined.split('\n')) {
      const line = raw.replace(/\s+#\s.*$/, '').trim();
      if (!line || line.startsWith('#')) continue;
      for (const part of line.split(/\s&&\s/)) out.push(part.trim());
    }
  }
  return out;
}
