/**
 * Virtual media against CDI as it really behaves (docs/kubevirt.md, "CDI import errors and claims"):
 * CDI retries import errors forever, so a 404 must still end the insert as failed, within a bounded
 * number of importer restarts, with CDI's message; the claim is sized from the image's
 * Content-Length; the BMC's storage and TLS settings reach the DataVolume; a cluster without a
 * default StorageClass needs access modes. Image servers run on 127.0.0.1; the fake CDI fetches
 * loopback URLs for real.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { selfSignedCert } from '../../../packages/kube-sim/src/embedded/tls.ts';
import { KubeClient } from '../../../src/kube/client.ts';
import { KubeConfigAccess } from '../../../src/kube/config.ts';
import type { MediaSettings } from '../../../src/kubevirt/media-storage.ts';
import type { DataVolume } from '../../../src/kubevirt/types.ts';
import { isMachineError, type Machine } from '../../../src/machine/index.ts';
import { kubevirtEnv, NAMESPACE, uniqueName, vmManifest } from '../../support/kubevirt-fixtures.ts';
import { waitFor } from '../../support/wait.ts';

const env = kubevirtEnv('fast');
const GIB = 1024 ** 3;
const MIB = 1024 * 1024;
const WAIT = { timeoutMs: 20_000 };

/** 404 for /missing.iso; Content-Length 3 GiB for /big.iso, 100 GiB for /huge.iso, 1 MiB otherwise. */
function images(req: http.IncomingMessage, res: http.ServerResponse): void {
  res.on('error', () => {});
  if (req.url === '/missing.iso') {
    res.writeHead(404).end('not found');
    return;
  }
  const size = req.url === '/big.iso' ? 3 * GIB : req.url === '/huge.iso' ? 100 * GIB : MIB;
  res.writeHead(200, { 'Content-Length': String(size) });
  if (req.method === 'HEAD') res.end();
  else res.write(Buffer.alloc(64 * 1024));
}

let plain: http.Server;
let tls: https.Server;
let ca: string;
let kube: KubeClient;

before(async () => {
  plain = http.createServer(images);
  const cert = selfSignedCert('images.test');
  ca = cert.cert;
  tls = https.createServer({ cert: cert.cert, key: cert.key }, images);
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
});
after(() => {
  for (const s of [plain, tls]) {
    s?.closeAllConnections();
    s?.close();
  }
  kube?.close();
});

const base = () => `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
const secure = () => `https://127.0.0.1:${(tls.address() as AddressInfo).port}`;
const slot = (m: Machine) => m.getMediaSlots()[0]!;
const dataVolumes = async (name: string) => (await env.user.listDataVolumes(name)) as unknown as DataVolume[];

async function vm(running: boolean, settings?: MediaSettings): Promise<{ name: string; m: Machine }> {
  const name = uniqueName('mimport');
  await env.user.createVm(vmManifest(name, { runStrategy: running ? 'Always' : 'Halted' }));
  if (settings) env.backend.setMediaSettings(name, settings);
  const m = env.backend.machine(name);
  await waitFor(
    () => {
      try {
        return m.getPowerState() === (running ? 'On' : 'Off');
      } catch {
        return false;
      }
    },
    { ...WAIT, what: 'VM ready' },
  );
  return { name, m };
}

describe('virtual media against CDI as it really behaves', () => {
  test('a 404 ends the insert as Failed after 3 importer restarts, with CDI’s message', async () => {
    const { name, m } = await vm(false);
    const seen: string[] = [];
    m.on((e) => {
      if (e.type === 'media') seen.push(`${e.slot.state}:${e.slot.message ?? ''}`);
    });
    await m.insertMedia('Cd', { image: `${base()}/missing.iso` });
    await waitFor(() => slot(m).state === 'Failed', { ...WAIT, what: 'Failed' });
    assert.match(
      slot(m).message ?? '',
      /^Import of the image failed \(CDI retried it 3 times\): Unable to connect to http data source: expected status code 200, got 404\. Status: 404 Not Found$/,
    );
    const [dv] = await dataVolumes(name);
    assert.equal(dv!.status?.phase, 'ImportInProgress', 'CDI itself never fails it');
    assert.ok((dv!.status?.restartCount ?? 0) >= 3);
    assert.ok(
      seen.some((s) => /^Inserting:Import error, CDI retries \(\d of 3\)/.test(s)),
      `retries reported while inserting: ${seen.join(' | ')}`,
    );
  });

  test('a reset held for the CD is released as soon as the insert failed', async () => {
    const { name, m } = await vm(true);
    await m.insertMedia('Cd', { image: `${base()}/missing.iso` });
    await m.setBootOverride({ target: 'Cd', persistence: 'Once' });
    const before = env.sim.stats.requests().length;
    await m.power('ForceRestart');
    await waitFor(() => slot(m).state === 'Failed', { ...WAIT, what: 'Failed' });
    await waitFor(
      () =>
        env.sim.stats
          .requests()
          .slice(before)
          .some((r) => r.method === 'PUT' && new RegExp(`/${name}/(reset|restart)$`).test(r.path)),
      { ...WAIT, what: 'the held reset performed' },
    );
  });

  test('the claim is sized from Content-Length (+6 % and 64 MiB): a 3 GiB image imports', async () => {
    const { name, m } = await vm(false);
    await m.insertMedia('Cd', { image: `${base()}/big.iso` });
    const [dv] = await dataVolumes(name);
    const want = Math.ceil((3 * GIB * 1.06 + 64 * MIB) / MIB);
    assert.equal(dv!.spec?.storage?.resources?.requests?.storage, `${want}Mi`);
    await waitFor(() => slot(m).state === 'Inserted', { ...WAIT, what: 'Inserted' });
  });

  test('an unknown size takes the configured size; an image over maxSize is refused and creates nothing', async () => {
    const { name, m } = await vm(false, { storage: { size: '6Gi', maxSize: '50Gi' } });
    await m.insertMedia('Cd', { image: 'http://images.example/unknown-size.iso' });
    const [dv] = await dataVolumes(name);
    assert.equal(dv!.spec?.storage?.resources?.requests?.storage, '6Gi');
    await m.ejectMedia('Cd');
    await assert.rejects(
      m.insertMedia('Cd', { image: `${base()}/huge.iso` }),
      (err: unknown) =>
        isMachineError(err) && err.code === 'InvalidArgument' && /100\.0 GiB.*50Gi/.test(err.message),
    );
    assert.deepEqual(await dataVolumes(name), []);
  });

  test('storage class, access modes, volume mode and certConfigMap reach the DataVolume; the private-CA image imports', async () => {
    kube ??= new KubeClient(KubeConfigAccess.load(env.sim.kubeconfigPath));
    const cm = uniqueName('images-ca');
    await kube.request('POST', `/api/v1/namespaces/${NAMESPACE}/configmaps`, {
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: cm }, data: { 'ca.pem': ca } },
    });
    const { name, m } = await vm(false, {
      storage: {
        storageClassName: 'fake-cdi-local',
        accessModes: ['ReadWriteOnce'],
        volumeMode: 'Filesystem',
      },
      tls: { certConfigMap: cm },
    });
    await m.insertMedia('Cd', { image: `${secure()}/private.iso` });
    const [dv] = await dataVolumes(name);
    assert.deepEqual(dv!.spec?.source?.http, { url: `${secure()}/private.iso`, certConfigMap: cm });
    assert.equal(dv!.spec?.storage?.storageClassName, 'fake-cdi-local');
    assert.deepEqual(dv!.spec?.storage?.accessModes, ['ReadWriteOnce']);
    assert.equal(dv!.spec?.storage?.volumeMode, 'Filesystem');
    await waitFor(() => slot(m).state === 'Inserted', { ...WAIT, what: 'Inserted' });

    // Without the CA the same image is an untrusted certificate: failed after the retries.
    const other = await vm(false, { importRetries: 1 });
    await other.m.insertMedia('Cd', { image: `${secure()}/private.iso` });
    await waitFor(() => slot(other.m).state === 'Failed', { ...WAIT, what: 'Failed' });
    assert.match(slot(other.m).message ?? '', /x509: certificate signed by unknown authority/);
  });

  test('without a default StorageClass an insert needs access modes: failed with CDI’s reason, then works with them', async () => {
    const faults = env.sim.faults as { setDefaultStorageClass(name: string | null): void };
    faults.setDefaultStorageClass(null);
    try {
      const { m } = await vm(false);
      await m.insertMedia('Cd', { image: `${base()}/small.iso` });
      await waitFor(() => slot(m).state === 'Failed', { ...WAIT, what: 'Failed' });
      assert.equal(
        slot(m).message,
        'The volume for the image cannot be created: PVC spec is missing accessMode and no storageClass to choose profile',
      );
      const fixed = await vm(false, { storage: { accessModes: ['ReadWriteOnce'] } });
      await fixed.m.insertMedia('Cd', { image: `${base()}/small.iso` });
      await waitFor(() => slot(fixed.m).state === 'Inserted', { ...WAIT, what: 'Inserted' });
    } finally {
      faults.setDefaultStorageClass('fake-cdi-local');
    }
  });
});
