/**
 * Rotating a password ends the IPMI sessions opened with the old one, as real consoles see it:
 * an `ipmitool shell` (one RMCP+ session held open, commands read from a pipe) over lanplus and
 * over lan (IPMI 1.5), and Serial over LAN consoles (`ipmitool sol activate`, FreeIPMI's
 * `ipmiconsole`). The accounts come from an
 * `AccountList`, the seam the agent's Secret-backed credentials use.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { IpmiServer } from '../../../src/ipmi/server.ts';
import { AccountList, type BmcAccount } from '../../../src/machine/index.ts';
import { missingClients } from '../../support/clients.ts';
import { run } from '../../support/ipmi-run.ts';
import { MemoryMachine } from '../../support/memory-machine.ts';
import { HandshakeError, rmcpHandshake } from '../../support/rmcp-handshake.ts';
import { waitFor } from '../../support/wait.ts';
import { lanplus, listenLowPort, PtyClient } from '../ipmi-sol/helpers.ts';

const OLD: BmcAccount = { username: 'admin', password: 'old-password', role: 'Administrator' };
const NEW: BmcAccount = { username: 'admin', password: 'new-password', role: 'Administrator' };
const OTHER: BmcAccount = { username: 'oper', password: 'oper-pass-1', role: 'Operator' };

/** `ipmitool shell`: one session, held open, fed commands on stdin. */
class Shell {
  readonly child: ChildProcess;
  #out = '';
  #commands = 0;
  readonly exited: Promise<number | null>;

  constructor(port: number, iface: 'lan' | 'lanplus', user: BmcAccount) {
    const privilege = user.role === 'Operator' ? ['-L', 'OPERATOR'] : [];
    this.child = spawn(
      'ipmitool',
      ['-I', iface, ...privilege, '-H', '127.0.0.1', '-p', String(port), '-U', user.username].concat([
        '-P',
        user.password,
        '-N',
        '1',
        '-R',
        '1',
        'shell',
      ]),
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const add = (d: Buffer) => {
      this.#out += d.toString('latin1');
    };
    this.child.stdout!.on('data', add);
    this.child.stderr!.on('data', add);
    this.exited = new Promise((r) => this.child.on('close', (code) => r(code)));
  }

  get output(): string {
    return this.#out;
  }

  /**
   * Types a command and waits for the prompt after it (the shell prints one prompt at start and
   * one after each command); returns what the command printed.
   */
  async command(line: string, timeoutMs = 20_000): Promise<string> {
    const from = this.#out.length;
    const prompts = ++this.#commands + 1;
    this.child.stdin!.write(`${line}\n`);
    await waitFor(() => this.#out.split('ipmitool> ').length - 1 >= prompts, {
      timeoutMs,
      intervalMs: 20,
      what: `ipmitool shell: ${line}`,
    });
    return this.#out.slice(from);
  }

  async close(): Promise<void> {
    this.child.stdin!.end('exit\n');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(t);
  }
}

describe('password rotation ends IPMI sessions', { skip: missingClients('ipmitool') }, () => {
  let machine: MemoryMachine;
  let list: AccountList;
  let server: IpmiServer;
  let port: number;
  const shells: Shell[] = [];
  const consoles: PtyClient[] = [];
  const shell = (iface: 'lan' | 'lanplus', user: BmcAccount) => {
    const s = new Shell(port, iface, user);
    shells.push(s);
    return s;
  };

  before(async () => {
    machine = new MemoryMachine({ timings: { powerOnMs: 1, forceOffMs: 1, gracefulOffMs: 1 } });
    list = new AccountList([OLD, OTHER]);
    server = new IpmiServer({
      machine,
      accounts: list.source,
      loginLimits: { sourceBurst: 1000, sourceRefillMs: 1000, accountBurst: 1000, accountRefillMs: 1000 },
    });
    // Below 32768, for FreeIPMI's ipmiconsole (ipmi-sol/helpers.ts).
    port = await listenLowPort(server);
  });
  after(async () => {
    for (const c of consoles) c.kill();
    for (const s of shells) s.child.kill('SIGKILL');
    await server.close();
    machine.dispose();
  });

  test('open ipmitool shells (lanplus and lan) stop working; other accounts and the new password work', async () => {
    list.set([OLD, OTHER]);
    const plus = shell('lanplus', OLD);
    const lan15 = shell('lan', OLD);
    const oper = shell('lanplus', OTHER);
    for (const s of [plus, lan15, oper])
      assert.match(await s.command('power status'), /Chassis Power is off/);
    assert.equal(server.sessionCount, 3);

    // The attack this prevents: with a leaked password, a session kept open outlives the rotation.
    const { revoked, ended } = list.set([NEW, OTHER]);
    assert.deepEqual(revoked, ['admin']);
    assert.deepEqual(ended, [{ protocol: 'ipmi', sessions: 2 }]);
    assert.equal(server.sessionCount, 1, "only oper's session is left");

    assert.match(await plus.command('power status'), /Unable to get Chassis Power Status/);
    assert.match(await lan15.command('power status'), /Unable to get Chassis Power Status/);
    assert.match(
      await oper.command('power status'),
      /Chassis Power is off/,
      'another account keeps its session',
    );

    const fresh = await run('ipmitool', [
      ...lanplus(port, 'admin', NEW.password),
      '-N',
      '1',
      '-R',
      '1',
      'power',
      'status',
    ]);
    assert.equal(fresh.stdout.trim(), 'Chassis Power is off', fresh.stderr);
    const old = await run('ipmitool', [
      ...lanplus(port, 'admin', OLD.password),
      '-N',
      '1',
      '-R',
      '1',
      'power',
      'status',
    ]);
    assert.notEqual(old.code, 0);
    for (const s of [plus, lan15, oper]) await s.close();
  });

  test('setting the same accounts again ends nothing', async () => {
    list.set([NEW]);
    const s = shell('lanplus', NEW);
    assert.match(await s.command('power status'), /Chassis Power is off/);
    assert.deepEqual(list.set([{ ...NEW }]), { revoked: [], ended: [] });
    assert.match(await s.command('power status'), /Chassis Power is off/);
    await s.close();
  });

  test('a Serial over LAN console ends with its session; the new password gets the console at once', async () => {
    list.set([OLD]);
    const old = new PtyClient(
      'ipmitool',
      [...lanplus(port, 'admin', OLD.password, ['-N', '1', '-R', '1']), 'sol', 'activate'],
      120_000,
    );
    consoles.push(old);
    await old.waitFor('[SOL Session operational.');
    assert.equal((await run('ipmitool', [...lanplus(port, 'admin', OLD.password), 'power', 'on'])).code, 0);
    await old.waitFor(/vm1 login: $/);
    old.type('root\r');
    await old.waitFor('vm1 login: root\r\n');

    list.set([NEW]);
    assert.equal(server.sol!.activeSessionId, null, 'SOL deactivated with the session');
    const mark = old.output.length;

    // Nothing "already active" blocks the rightful owner.
    const fresh = new PtyClient('ipmitool', [...lanplus(port, 'admin', NEW.password), 'sol', 'activate']);
    consoles.push(fresh);
    await fresh.waitFor('[SOL Session operational.');
    assert.equal(
      (await run('ipmitool', [...lanplus(port, 'admin', NEW.password), 'power', 'reset'])).code,
      0,
    );
    await fresh.waitFor('reboot: Restarting system');
    await fresh.waitFor(/vm1 login: $/);
    // The reboot went to the new console only.
    assert.ok(!old.output.slice(mark).includes('Restarting system'), old.output.slice(mark));
    // The old console gives up by itself when its keepalive goes unanswered (ipmitool: about every
    // 15 s, a few tries).
    assert.equal(await old.exit(90_000), 1, old.output);
    assert.match(old.output.slice(mark), /No response to keepalive - Terminating session/);
    fresh.type('\r~.');
    assert.equal(await fresh.exit(), 0, fresh.output);
  });

  test('FreeIPMI ipmiconsole is told at once ("SOL deactivating") and exits', {
    skip: missingClients('ipmiconsole'),
  }, async () => {
    list.set([OLD]);
    const c = new PtyClient('ipmiconsole', ['-h', `127.0.0.1:${port}`, '-u', 'admin', '-p', OLD.password]);
    consoles.push(c);
    await c.waitFor('[SOL established]');
    list.set([NEW]);
    assert.equal(await c.exit(), 0, c.output);
    assert.match(c.output, /\[SOL session stolen\]/);
    assert.equal(server.sessionCount, 0);
  });

  test('a login in progress across the rotation (RAKP 1 before, RAKP 3 after) is refused', async () => {
    list.set([OLD]);
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    let sent = 0;
    const exchange = (pkt: Buffer) =>
      new Promise<Buffer | null>((resolve) => {
        // Third packet: RAKP 3, computed with the old password the BMC's RAKP 2 was keyed with.
        if (++sent === 3) list.set([NEW]);
        const t = setTimeout(() => resolve(null), 2000);
        socket.once('message', (m) => {
          clearTimeout(t);
          resolve(m);
        });
        socket.send(pkt, port, '127.0.0.1');
      });
    try {
      await assert.rejects(
        rmcpHandshake(exchange, { username: 'admin', password: OLD.password, suite: 17 }),
        (err: unknown) => err instanceof HandshakeError && err.step === 'rakp4',
      );
    } finally {
      socket.close();
    }
    assert.equal(server.sessionCount, 0);
  });
});
