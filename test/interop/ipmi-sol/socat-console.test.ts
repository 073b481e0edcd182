import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { IpmiServer } from '../../../src/ipmi/server.ts';
import { missingClients } from '../../support/clients.ts';
import { ADMIN } from '../../support/ipmi-bmc.ts';
import { MemoryMachine } from '../../support/memory-machine.ts';
import { waitFor } from '../../support/wait.ts';

// Ironic's `ipmitool-socat` console: socat listens on a TCP port and, for each client, runs
// `ipmitool -I lanplus ... sol activate` on a pty (ironic/drivers/modules/console_utils.py). A
// client that goes away without `~.` leaves an ipmitool that never deactivates (killed with the
// socat child, or SIGKILLed); the next client runs a fresh ipmitool with the same account. It must
// get the console at once, not "SOL payload already active on another session" until the dead
// session idles out.

/** Every process below `pid` (children first level first), from `ps`. */
function descendants(pid: number): number[] {
  const rows = execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number) as [number, number]);
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of rows)
      if (pp === p) {
        out.push(c);
        walk(c);
      }
  };
  walk(pid);
  return out;
}

function commandOf(pid: number): string {
  try {
    return execFileSync('ps', ['-o', 'comm=', '-p', String(pid)], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

async function freeTcpPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** A person at Ironic's console: a TCP client collecting what it reads. */
class TcpConsole {
  readonly socket: Socket;
  out = '';
  constructor(port: number) {
    this.socket = tcpConnect(port, '127.0.0.1');
    this.socket.on('data', (d: Buffer) => {
      this.out += d.toString('latin1');
    });
    this.socket.on('error', () => {});
  }
  async waitFor(what: string, timeoutMs = 20_000): Promise<void> {
    await waitFor(() => this.out.includes(what), {
      timeoutMs,
      what: `${JSON.stringify(what)} on the socat console; output: ${JSON.stringify(this.out)}`,
    });
  }
  /** Types until the guest echoes `word` (the first keystrokes may precede SOL activation). */
  async echo(word: string): Promise<void> {
    const from = this.out.length;
    await waitFor(
      () => {
        if (this.out.slice(from).includes(word)) return true;
        this.socket.write(`${word}\r`);
        return false;
      },
      { timeoutMs: 20_000, intervalMs: 500, what: `echo of ${word}; output: ${JSON.stringify(this.out)}` },
    );
  }
}

describe('Ironic ipmitool-socat console', { skip: missingClients('ipmitool', 'socat') }, () => {
  let machine: MemoryMachine;
  let server: IpmiServer;
  let bmcPort: number;
  let consolePort: number;
  let socat: ChildProcess;
  const clients: TcpConsole[] = [];
  const open = () => {
    const c = new TcpConsole(consolePort);
    clients.push(c);
    return c;
  };

  before(async () => {
    machine = new MemoryMachine({ timings: { powerOnMs: 1, forceOffMs: 1, gracefulOffMs: 1 } });
    server = new IpmiServer({
      machine,
      accounts: () => [ADMIN],
      loginLimits: { sourceBurst: 1000, sourceRefillMs: 1000 },
    });
    bmcPort = (await server.listen(0)).port;
    await machine.power('On');
    consolePort = await freeTcpPort();
    const ipmitool = `ipmitool -I lanplus -H 127.0.0.1 -p ${bmcPort} -U ${ADMIN.username} -P ${ADMIN.password} sol activate`;
    socat = spawn(
      'socat',
      [`TCP4-LISTEN:${consolePort},bind=127.0.0.1,reuseaddr,fork`, `EXEC:${ipmitool},pty,stderr`],
      { stdio: 'ignore' },
    );
    await waitFor(
      () =>
        new Promise<boolean>((resolve) => {
          const s = tcpConnect(consolePort, '127.0.0.1');
          s.on('connect', () => {
            s.destroy();
            resolve(true);
          });
          s.on('error', () => resolve(false));
        }),
      { timeoutMs: 10_000, what: 'socat listening' },
    );
    // The probe connection above is already a client that leaves at once: socat started an
    // ipmitool for it and killed it, maybe after it activated SOL. Before the takeover that alone
    // left every later client with an empty console (ipmitool's "already active" error does not
    // even reach the TCP client).
    await waitFor(() => descendants(socat.pid!).length === 0, { timeoutMs: 15_000, what: 'probe gone' });
  });
  after(async () => {
    for (const c of clients) c.socket.destroy();
    if (socat?.pid) {
      for (const pid of descendants(socat.pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      socat.kill('SIGKILL');
    }
    await server?.close();
    machine?.dispose();
  });

  test('a client shows the guest; after the client leaves or its ipmitool is SIGKILLed, the next one does too', async () => {
    const first = open();
    await first.waitFor('[SOL Session operational.');
    await first.echo('first');
    const owner = server.sol!.activeSessionId;
    assert.ok(owner, 'SOL active');

    // 1. The ipmitool behind the console is SIGKILLed: it never deactivates, its session stays.
    const tool = descendants(socat.pid!).find((p) => commandOf(p) === 'ipmitool');
    assert.ok(tool, 'ipmitool runs under socat');
    process.kill(tool, 'SIGKILL');
    first.socket.destroy();
    const second = open();
    await second.waitFor('[SOL Session operational.');
    assert.doesNotMatch(second.out, /already active/);
    await second.echo('second');
    assert.notEqual(server.sol!.activeSessionId, owner, 'the new session owns SOL');

    // 2. The TCP client just disconnects (no ~.): the next client gets the console again.
    const owner2 = server.sol!.activeSessionId;
    second.socket.destroy();
    const third = open();
    await third.waitFor('[SOL Session operational.');
    assert.doesNotMatch(third.out, /already active/);
    await third.echo('third');
    assert.notEqual(server.sol!.activeSessionId, owner2);
  });
});
