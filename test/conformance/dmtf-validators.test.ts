import assert from 'node:assert/strict';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  failuresInLog,
  ipCommand,
  loopbackNamespace,
  missingValidators,
  type StandaloneBmc,
  startStandaloneBmc,
  summaryTable,
  validatorBin,
  validatorPins,
} from '../support/dmtf-validators.ts';
import { ADMIN } from '../support/redfish-service.ts';
import { selfSignedCert } from '../support/redfish-tls.ts';
import { runCommand } from '../support/run.ts';

/**
 * The three DMTF validators against the service, as a vendor's BMC would be certified: the Service
 * Validator (every payload against the DSP8010 2025.4 CSDL, plus our OEM schema), the Protocol
 * Validator (the Redfish specification's HTTP, session and security rules, over HTTPS) and the
 * Interop Validator with the OpenStack Ironic profile 1.2.0. Each runs with the BMC in a network
 * namespace where only loopback exists (`ip netns`), so nothing leaves the machine.
 */
const skip = missingValidators();
const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'redfish');
const DOCS = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'redfish.md'), 'utf8');

describe('DMTF Redfish validators', { skip, timeout: 600_000 }, () => {
  let ns: ReturnType<typeof loopbackNamespace>;
  let dir = '';
  let schemas = '';
  let certFile = '';
  let http: StandaloneBmc;
  let https: StandaloneBmc;

  before(async () => {
    console.error(`validators: ${validatorPins()}`);
    dir = mkdtempSync(join(tmpdir(), 'kvbmc-conformance-'));
    // The DMTF CSDL the service's types need (test/fixtures/redfish/csdl) and our OEM schema, in
    // one offline schema directory.
    schemas = join(dir, 'schemas');
    mkdirSync(schemas);
    for (const f of readdirSync(join(FIXTURES, 'csdl')))
      copyFileSync(join(FIXTURES, 'csdl', f), join(schemas, f));
    copyFileSync(join(FIXTURES, 'oem', 'KubeVirt_v1.xml'), join(schemas, 'KubeVirt_v1.xml'));
    const tls = selfSignedCert();
    certFile = join(dir, 'cert.pem');
    writeFileSync(certFile, tls.cert);
    writeFileSync(join(dir, 'key.pem'), tls.key);
    ns = loopbackNamespace();
    http = await startStandaloneBmc(ns.name);
    https = await startStandaloneBmc(ns.name, { certFile, keyFile: join(dir, 'key.pem') });
  });

  after(async () => {
    await http?.stop();
    await https?.stop();
    ns?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Runs a validator in the namespace. requests' CA bundle is the test's certificate only: the
   * environment's REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE would override the validators' own --ca-bundle
   * in requests' sessions (and sudo would drop them anyway, so they are set inside).
   */
  function inNamespace(bin: string, args: string[]) {
    const [cmd, argv] = ipCommand([
      'netns',
      'exec',
      ns.name,
      'env',
      `REQUESTS_CA_BUNDLE=${certFile}`,
      `CURL_CA_BUNDLE=${certFile}`,
      bin,
      ...args,
    ]);
    return runCommand(cmd, argv, { cwd: dir, timeoutMs: 300_000 });
  }

  for (const authtype of ['Basic', 'Session'] as const) {
    test(`Service Validator, ${authtype} auth: 0 FAIL over the whole tree, the OEM extension included`, async () => {
      const logdir = join(dir, `service-${authtype}`);
      const r = await inNamespace(validatorBin('rf_service_validator'), [
        '--rhost',
        `http://127.0.0.1:${http.port}`,
        '--user',
        ADMIN.username,
        '--password',
        ADMIN.password,
        '--authtype',
        authtype,
        '--schema_directory',
        schemas,
        '--skipschema',
        '--logdir',
        logdir,
      ]);
      const counts = summaryTable(r.stdout);
      const log = readLog(logdir, /^RedfishServiceValidatorDebug.*\.log$/);
      assert.deepEqual(failuresInLog(log), [], 'FAIL lines');
      assert.equal(counts.fail, 0);
      assert.ok(counts.pass > 500, `only ${counts.pass} PASS: the crawl did not reach the tree`);
      // Every resource was read, including the ones Ironic uses.
      for (const uri of [
        '/redfish/v1/Systems/1',
        '/redfish/v1/Managers/BMC/VirtualMedia/Cd',
        '/redfish/v1/SessionService',
      ]) {
        assert.ok(log.includes(` - Validating ${uri}...`), `${uri} was not validated`);
      }
      // The OEM object is checked against KubeVirt_v1.xml, not skipped, and draws no warning.
      const oemWarnings = log.split('\n').filter((l) => / - WARN - \/Oem\//.test(l));
      assert.deepEqual(oemWarnings, [], 'warnings about Oem');
      for (const p of [
        '@odata.type (#KubeVirt.v1_0_0.VirtualMedia)',
        'MediaState',
        'PercentComplete',
        'Message',
      ]) {
        assert.ok(log.includes(`PASS - /Oem/KubeVirt/${p}`), `/Oem/KubeVirt/${p} did not pass`);
      }
      assert.equal(r.code, 0, r.stderr.slice(-2000));
    });
  }

  test('Protocol Validator over HTTPS: 0 FAIL', async () => {
    const reports = join(dir, 'protocol');
    const r = await inNamespace(validatorBin('rf_protocol_validator'), [
      '--rhost',
      `https://127.0.0.1:${https.port}`,
      '--user',
      ADMIN.username,
      '--password',
      ADMIN.password,
      '--ca-bundle',
      certFile,
      '--report-dir',
      reports,
      '--report-type',
      'tsv',
    ]);
    const tsv = readLog(reports, /\.tsv$/);
    const rows = tsv
      .split('\n')
      .slice(1)
      .filter(Boolean)
      .map((l) => l.split('\t'));
    const result = (row: string[]) => row[4];
    const failed = rows
      .filter((row) => result(row) === 'FAIL')
      .map((row) => `${row[0]} ${row[1]} ${row[3]}: ${row[5]}`);
    assert.deepEqual(failed, []);
    const passed = rows.filter((row) => result(row) === 'PASS').map((row) => row[0]);
    assert.ok(passed.length > 200, `only ${passed.length} PASS`);
    // Over TLS, with the unknown method and the methods a URI lacks answered 405.
    for (const a of [
      'PROTO_HTTP_UNSUPPORTED_METHODS',
      'REQ_DATA_MOD_NOT_SUPPORTED',
      'SEC_BASIC_AUTH_STANDALONE',
    ]) {
      assert.ok(passed.includes(a), `${a} did not pass`);
    }
    assert.match(r.stdout, /Summary - PASS: \d+, WARN: \d+, FAIL: 0,/);
    assert.equal(r.code, 0, r.stderr.slice(-2000));
  });

  test('Interop Validator, OpenStack Ironic profile 1.2.0: only the failures docs/redfish.md lists', async () => {
    const logdir = join(dir, 'interop');
    const profile = join(FIXTURES, 'profiles', 'OpenStackIronicProfile.v1_2_0.json');
    const r = await inNamespace(validatorBin('rf_interop_validator'), [
      '--rhost',
      `http://127.0.0.1:${http.port}`,
      '--user',
      ADMIN.username,
      '--password',
      ADMIN.password,
      '--authtype',
      'Session',
      '--logdir',
      logdir,
      profile,
    ]);
    const counts = summaryTable(r.stdout);
    const failures = failuresInLog(readLog(logdir, /^RedfishInteropValidatorDebug.*\.log$/));
    // Each known failure: where, what, and the item docs/redfish.md lists it under.
    const known = [
      {
        uri: /\/Storage\/1\/Volumes$/,
        message: /'POST' not found in the Allow header/,
        doc: 'VolumeCollection.CreateResource',
      },
      {
        uri: /\/Storage\/1\/Volumes$/,
        message: /@Redfish\.OperationApplyTimeSupport.*not present/,
        doc: 'VolumeCollection@Redfish.OperationApplyTimeSupport',
      },
    ];
    const unexplained = failures.filter(
      (f) => !known.some((k) => k.uri.test(f.uri) && k.message.test(f.message)),
    );
    assert.deepEqual(unexplained, [], 'failures docs/redfish.md does not list');
    for (const k of known) assert.ok(DOCS.includes(k.doc), `docs/redfish.md does not list ${k.doc}`);
    assert.equal(counts.fail, failures.length);
    assert.ok(counts.pass > 50, `only ${counts.pass} PASS`);
  });
});

/** The one file in `dir` (or a subfolder) whose name matches. */
function readLog(dir: string, name: RegExp): string {
  const found = (readdirSync(dir, { recursive: true }) as string[]).filter((f) =>
    name.test(f.split('/').pop() ?? ''),
  );
  assert.equal(found.length, 1, `expected one ${name} in ${dir}, got ${found.join(', ')}`);
  return readFileSync(join(dir, found[0]!), 'utf8');
}
