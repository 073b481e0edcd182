/**
 * A Redfish BMC in its own process, for clients that must run beside it in another network
 * namespace (the DMTF validators, test/conformance/). It serves one MemoryMachine with the ADMIN,
 * OPERATOR and READER accounts of redfish-service.ts on 127.0.0.1, and prints one JSON line
 * `{"port": N}` on stdout once it listens. It stops on SIGTERM or when stdin closes.
 *
 *   node --import tsx test/support/redfish-standalone.ts [--tls-cert FILE --tls-key FILE] [--port N]
 */
import { readFileSync } from 'node:fs';
import { RedfishServer } from '../../src/redfish/server.ts';
import { MemoryMachine } from './memory-machine.ts';
import { ADMIN, OPERATOR, READER } from './redfish-service.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const certFile = arg('--tls-cert');
const keyFile = arg('--tls-key');
const machine = new MemoryMachine({
  timings: { powerOnMs: 0, forceOffMs: 0, gracefulOffMs: 0, mediaInsertMs: 20 },
});
const server = new RedfishServer({
  systems: { kind: 'single', machine },
  accounts: () => [ADMIN, OPERATOR, READER],
  ...(certFile && keyFile
    ? { tls: { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') } }
    : {}),
});

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await server.close();
  machine.dispose();
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.resume();

const { port } = await server.listen(Number(arg('--port') ?? 0), '127.0.0.1');
process.stdout.write(`${JSON.stringify({ port })}\n`);
