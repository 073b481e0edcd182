import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { RedfishServer } from '../../../src/redfish/server.ts';
import { TlsConfigError } from '../../../src/redfish/tls.ts';
import { MemoryMachine } from '../../support/memory-machine.ts';
import { ADMIN, type RedfishFixture, startRedfish } from '../../support/redfish-service.ts';
import { selfSignedCert } from '../../support/redfish-tls.ts';
import { runCommand } from '../../support/run.ts';

/**
 * The TLS profile as a real client sees it: `openssl s_client` offers one version and one suite
 * at a time and reports what was agreed. The default (Mozilla intermediate) refuses every TLS 1.2
 * suite without forward secrecy or with CBC, agrees ECDHE with AES-GCM or ChaCha20-Poly1305 (the
 * test certificate is RSA) and TLS 1.3, and refuses TLS 1.1; `modern` is TLS 1.3 only; a cipher
 * list replaces the TLS 1.2 suites; bad settings stop the service and the agent from starting.
 */
interface Handshake {
  readonly ok: boolean;
  readonly protocol?: string;
  readonly cipher?: string;
  readonly curve?: string;
  readonly output: string;
}

async function sClient(port: number, ...args: string[]): Promise<Handshake> {
  const r = await runCommand(
    'openssl',
    ['s_client', '-connect', `127.0.0.1:${port}`, '-brief', '-verify_quiet', ...args],
    { input: '', timeoutMs: 20_000 },
  );
  const output = `${r.stdout}\n${r.stderr}`;
  const protocol = /Protocol version: (\S+)/.exec(output)?.[1];
  const cipher = /Ciphersuite: (\S+)/.exec(output)?.[1];
  const curve = /Server Temp Key: ([^,\n]+)/.exec(output)?.[1];
  return {
    ok: r.code === 0 && !!protocol,
    ...(protocol ? { protocol } : {}),
    ...(cipher ? { cipher } : {}),
    ...(curve ? { curve } : {}),
    output,
  };
}

/** The server (not the client) said no: a handshake-failure or protocol-version alert. */
function assertServerRefused(h: Handshake, alert: 'handshake failure' | 'protocol version', what: string) {
  assert.equal(h.ok, false, `${what}: agreed ${h.protocol} ${h.cipher}`);
  assert.match(h.output, new RegExp(`alert ${alert}`), `${what}: ${h.output}`);
}

// Suites Node's default list offers over TLS 1.2 that lack forward secrecy (static RSA key
// exchange) or use CBC (with or without ECDHE).
const WEAK_TLS12 = [
  'AES128-SHA',
  'AES256-SHA',
  'AES128-SHA256',
  'AES128-GCM-SHA256',
  'AES256-GCM-SHA384',
  'ECDHE-RSA-AES128-SHA',
  'ECDHE-RSA-AES256-SHA',
  'ECDHE-RSA-AES128-SHA256',
  'ECDHE-RSA-AES256-SHA384',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-SHA256',
];

let pair: { cert: string; key: string };
before(() => {
  pair = selfSignedCert();
});

describe('default profile (intermediate)', () => {
  let fx: RedfishFixture;
  before(async () => {
    fx = await startRedfish({ tls: pair });
  });
  after(async () => fx?.close());

  test('TLS 1.2 suites without forward secrecy or with CBC are refused', async () => {
    for (const cipher of WEAK_TLS12) {
      const h = await sClient(fx.port, '-tls1_2', '-cipher', cipher);
      assertServerRefused(h, 'handshake failure', cipher);
    }
  });

  test('TLS 1.2 with ECDHE and AES-GCM or ChaCha20-Poly1305 is agreed', async () => {
    for (const cipher of [
      'ECDHE-RSA-AES128-GCM-SHA256',
      'ECDHE-RSA-AES256-GCM-SHA384',
      'ECDHE-RSA-CHACHA20-POLY1305',
    ]) {
      const h = await sClient(fx.port, '-tls1_2', '-cipher', cipher);
      assert.equal(h.ok, true, `${cipher}: ${h.output}`);
      assert.equal(h.protocol, 'TLSv1.2');
      assert.equal(h.cipher, cipher);
    }
    // Offered everything: the server takes a strong suite.
    const any = await sClient(fx.port, '-tls1_2');
    assert.match(any.cipher ?? '', /^ECDHE-RSA-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)$/, any.output);
    assert.match(any.curve ?? '', /^(X25519|ECDH, prime256v1|ECDH, secp384r1)$/, any.output);
  });

  test('TLS 1.3 is agreed; TLS 1.1 is refused by the server', async () => {
    const h13 = await sClient(fx.port, '-tls1_3');
    assert.equal(h13.ok, true, h13.output);
    assert.equal(h13.protocol, 'TLSv1.3');
    // SECLEVEL=0 lets this OpenSSL offer TLS 1.1 at all; the refusal is then the server's.
    const h11 = await sClient(fx.port, '-tls1_1', '-cipher', 'DEFAULT:@SECLEVEL=0');
    assertServerRefused(h11, 'protocol version', 'TLS 1.1');
  });

  test('curl (default settings) still gets the service over HTTPS', async () => {
    const r = await runCommand('curl', [
      '-sS',
      '-k',
      '--max-time',
      '20',
      '-u',
      `${ADMIN.username}:${ADMIN.password}`,
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `${fx.url}/redfish/v1/Systems`,
    ]);
    assert.equal(r.stdout, '200', r.stderr);
  });
});

test('modern profile: TLS 1.3 only', async () => {
  const fx = await startRedfish({ tls: pair, server: { tlsSettings: { profile: 'modern' } } });
  try {
    assertServerRefused(
      await sClient(fx.port, '-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256'),
      'protocol version',
      'TLS 1.2 under modern',
    );
    const h13 = await sClient(fx.port, '-tls1_3');
    assert.equal(h13.protocol, 'TLSv1.3', h13.output);
  } finally {
    await fx.close();
  }
});

test('a cipher list replaces the TLS 1.2 suites; TLS 1.3 keeps its own', async () => {
  const fx = await startRedfish({
    tls: pair,
    server: { tlsSettings: { ciphers: 'ECDHE-RSA-AES256-GCM-SHA384' } },
  });
  try {
    assertServerRefused(
      await sClient(fx.port, '-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256'),
      'handshake failure',
      'a suite left out',
    );
    const h = await sClient(fx.port, '-tls1_2', '-cipher', 'ECDHE-RSA-AES256-GCM-SHA384');
    assert.equal(h.cipher, 'ECDHE-RSA-AES256-GCM-SHA384', h.output);
    assert.equal((await sClient(fx.port, '-tls1_3')).protocol, 'TLSv1.3');
  } finally {
    await fx.close();
  }
});

test('bad TLS settings are refused when the service is made, saying what to change', () => {
  const machine = new MemoryMachine();
  const make = (tlsSettings: ConstructorParameters<typeof RedfishServer>[0]['tlsSettings']) =>
    new RedfishServer({
      systems: { kind: 'single', machine },
      accounts: () => [ADMIN],
      tls: pair,
      ...(tlsSettings ? { tlsSettings } : {}),
    });
  const cases: [Parameters<typeof make>[0], RegExp][] = [
    [{ ciphers: 'ECDHE-RSA-AES128-GCM-SHA256:NOPE-CIPHER' }, /unknown cipher "NOPE-CIPHER"/],
    [{ ciphers: 'HIGH:!aNULL' }, /not OpenSSL keywords/],
    [{ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.2' }, /minVersion TLSv1\.3 is above .*maxVersion TLSv1\.2/],
    [{ minVersion: 'TLSv1.1' as 'TLSv1.2' }, /TLS below 1\.2 is not offered/],
    [{ profile: 'old' as 'modern' }, /"old" is unknown; use intermediate or modern/],
    [{ profile: 'modern', minVersion: 'TLSv1.2' }, /no TLS 1\.2 cipher suites/],
    [{ profile: 'modern', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' }, /TLS 1\.2 is off/],
  ];
  try {
    for (const [settings, message] of cases) {
      assert.throws(
        () => make(settings),
        (e: Error) => e instanceof TlsConfigError && message.test(e.message),
        JSON.stringify(settings),
      );
    }
  } finally {
    machine.dispose();
  }
});

test('the agent refuses bad TLS and destination flags at start (exit 2, one line naming the flag)', () => {
  const BIN = new URL('../../../bin/kubevirtbmc.js', import.meta.url).pathname;
  const agent = (...flags: string[]) =>
    spawnSync(
      process.execPath,
      [BIN, 'agent', '--vm', 'default/vm1', '--username', 'admin', '--password', 'secret-pass', ...flags],
      { encoding: 'utf8', timeout: 30_000, env: { ...process.env, KUBECONFIG: '/nonexistent' } },
    );
  const cases: [string[], RegExp][] = [
    [['--tls-ciphers', 'AES128-SHA:BOGUS-CIPHER'], /--tls-ciphers: unknown cipher "BOGUS-CIPHER"/],
    [['--tls-min-version', 'TLSv1.1'], /--tls-min-version TLSv1\.1: TLS below 1\.2 is not offered/],
    [['--tls-profile', 'modern', '--tls-min-version', 'TLSv1.2'], /set --tls-min-version TLSv1\.3/],
    [
      ['--event-destination-allow', '127.0.0.1/8'],
      /--event-destination-allow: .*did you mean 127\.0\.0\.0\/8/,
    ],
    [['--event-destination-deny', 'metadata.internal'], /--event-destination-deny: .*not a name/],
  ];
  for (const [flags, message] of cases) {
    const r = agent(...flags);
    assert.equal(r.status, 2, `${flags.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, flags.join(' '));
  }
});
