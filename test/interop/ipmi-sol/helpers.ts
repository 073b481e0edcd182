import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IpmiServer } from '../../../src/ipmi/server.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
export const PTY_RUN = join(HERE, 'pty_run.py');
export const PYGHMI_CONSOLE = join(HERE, 'pyghmi_console.py');

/**
 * Listens below 32768: FreeIPMI 1.6.10's ipmiconsole cannot reach a port above 32767 ("hostname
 * invalid": it formats the port as a signed 16-bit number), and Linux's ephemeral range starts at
 * 32768, so port 0 would always give it an unreachable port. Random free port, bounded attempts.
 */
export async function listenLowPort(server: IpmiServer): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    try {
      await server.listen(port);
      return port;
    } catch {
      // in use: try another
    }
  }
  throw new Error('no free UDP port below 32768');
}

/** An interactive client on a pseudo-terminal (python3's pty module), driven through pipes. */
export class PtyClient {
  readonly child: ChildProcess;
  #out = '';
  readonly #dir: string;
  readonly exited: Promise<number | null>;
  readonly #timer: NodeJS.Timeout;

  constructor(cmd: string, args: readonly string[], timeoutMs = 60_000) {
    this.#dir = mkdtempSync(join(tmpdir(), 'sol-pty-'));
    this.child = spawn('/usr/bin/python3', [PTY_RUN, cmd, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PTY_PID_FILE: join(this.#dir, 'pid') },
    });
    this.child.stdout!.on('data', (d: Buffer) => {
      this.#out += d.toString('latin1');
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.#out += d.toString('latin1');
    });
    this.#timer = setTimeout(() => this.kill(), timeoutMs);
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code) => {
        clearTimeout(this.#timer);
        rmSync(this.#dir, { recursive: true, force: true });
        resolve(code);
      });
    });
  }

  get output(): string {
    return this.#out;
  }

  type(text: string): void {
    this.child.stdin!.write(text);
  }

  /** Waits until the output contains `what` (string or pattern), or fails with the output so far. */
  async waitFor(what: string | RegExp, timeoutMs = 15_000, from = 0): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const found = () => {
      const s = this.#out.slice(from);
      return typeof what === 'string' ? s.includes(what) : what.test(s);
    };
    while (!found()) {
      if (Date.now() > deadline)
        throw new Error(
          `timed out waiting for ${JSON.stringify(String(what))}; output: ${JSON.stringify(this.#out)}`,
        );
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Waits for the client to exit by itself; kills it and fails after `timeoutMs`. */
  async exit(timeoutMs = 15_000): Promise<number | null> {
    let t: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => {
      t = setTimeout(() => r('timeout'), timeoutMs);
    });
    const r = await Promise.race([this.exited, timeout]);
    clearTimeout(t);
    if (r === 'timeout') {
      this.kill();
      throw new Error(`client did not exit; output: ${JSON.stringify(this.#out)}`);
    }
    return r;
  }

  /** The console client's own process (the child of the pty helper), or null once it exited. */
  clientPid(): number | null {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return null;
    try {
      const pid = Number.parseInt(readFileSync(join(this.#dir, 'pid'), 'utf8'), 10);
      return Number.isInteger(pid) && pid > 0 ? pid : null;
    } catch {
      return null;
    }
  }

  /** Freezes the console client (SIGSTOP): a console that holds SOL but no longer answers. */
  freeze(): void {
    const pid = this.clientPid();
    if (!pid) throw new Error('the console client is not running');
    process.kill(pid, 'SIGSTOP');
  }

  kill(): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const pid = this.clientPid();
    if (pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.child.kill('SIGKILL');
  }
}

/** `ipmitool -I lanplus` arguments for a local BMC (one retry, 1 s timeout per try). */
export function lanplus(port: number, user = 'admin', password = 'password', extra: string[] = []): string[] {
  return ['-I', 'lanplus', ...extra, '-H', '127.0.0.1', '-p', String(port), '-U', user, '-P', password];
}
