/**
 * A server in a child process of its own (one core of its own, like a separate daemon), started by
 * `startServer(role)`: a bare dgram echo or bare node:http server (the runtime's ceiling, measured in
 * the same run), or our IPMI / Redfish server over an in-memory machine. The child reports its port
 * over IPC and exits when the parent says so or goes away.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createSocket } from 'node:dgram';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export type Role = 'dgram-echo' | 'http-bare' | 'ipmi' | 'redfish';

export interface ServeOptions {
  username?: string;
  password?: string;
  /** http-bare: answer every request with these bytes and headers. */
  body?: string;
  headers?: Record<string, string>;
  /** HTTPS with a throwaway self-signed certificate (http-bare, redfish). */
  tls?: boolean;
}

export interface ServerHandle {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

const SELF = new URL(import.meta.url).pathname;

export async function startServer(role: Role, options: ServeOptions = {}): Promise<ServerHandle> {
  const child: ChildProcess = fork(SELF, ['--serve-role', role], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  child.send({ options });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve(Number(m)));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${role} server exited (${code}) before listening`)));
  });
  return {
    port,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.send('stop');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}

async function serve(role: Role, o: ServeOptions): Promise<number> {
  const tlsOptions = async () => {
    const { selfSignedCert } = await import('../../packages/kube-sim/src/embedded/tls.ts');
    const c = selfSignedCert('kubevirtbmc-bench');
    return { cert: c.cert, key: c.key };
  };
  const account = {
    username: o.username ?? 'admin',
    password: o.password ?? 'Bench-pass1',
    role: 'Administrator' as const,
  };
  switch (role) {
    case 'dgram-echo': {
      const s = createSocket('udp4');
      s.on('message', (m, r) => s.send(m, r.port, r.address));
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
      return s.address().port;
    }
    case 'http-bare': {
      const body = Buffer.from(o.body ?? '{}');
      const handler = (_req: http.IncomingMessage, res: http.ServerResponse) => {
        res.writeHead(200, { ...o.headers, 'Content-Length': body.length });
        res.end(body);
      };
      const srv = o.tls ? https.createServer(await tlsOptions(), handler) : http.createServer(handler);
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
      return (srv.address() as AddressInfo).port;
    }
    case 'ipmi': {
      const { IpmiServer } = await import('../../src/ipmi/server.ts');
      const { MemoryMachine } = await import('../../test/support/memory-machine.ts');
      const server = new IpmiServer({
        machine: new MemoryMachine({ power: 'On' }),
        accounts: () => [account],
        // Handshake benchmarks open and close sessions back to back.
        maxSessions: 64,
      });
      return (await server.listen(0)).port;
    }
    case 'redfish': {
      const { RedfishServer } = await import('../../src/redfish/server.ts');
      const { MemoryMachine } = await import('../../test/support/memory-machine.ts');
      const server = new RedfishServer({
        systems: { kind: 'single', machine: new MemoryMachine({ power: 'On' }) },
        accounts: () => [account],
        ...(o.tls ? { tls: await tlsOptions() } : {}),
      });
      return (await server.listen(0)).port;
    }
  }
}

const roleIndex = process.argv.indexOf('--serve-role');
if (roleIndex >= 0 && process.send) {
  const role = process.argv[roleIndex + 1] as Role;
  process.on('disconnect', () => process.exit(0));
  process.once('message', (m: { options: ServeOptions }) => {
    process.on('message', (x) => {
      if (x === 'stop') process.exit(0);
    });
    serve(role, m.options).then(
      (port) => process.send!(port),
      (err) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
}
