import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { dataVolumeManifest, mediaSlotOf } from '../../../src/kubevirt/media.ts';
import {
  claimSize,
  headContentLength,
  parseMediaSettings,
  quantityBytes,
  TooLarge,
} from '../../../src/kubevirt/media-storage.ts';
import type { DataVolume, VirtualMachine } from '../../../src/kubevirt/types.ts';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

describe('claim size', () => {
  test('Content-Length plus 6 % and 64 MiB, in MiB; the configured size when unknown', () => {
    assert.equal(claimSize(3 * GIB, undefined), `${Math.ceil((3 * GIB * 1.06 + 64 * MIB) / MIB)}Mi`);
    assert.equal(claimSize(null, undefined), '4Gi');
    assert.equal(claimSize(null, { storage: { size: '10Gi' } }), '10Gi');
  });
  test('over maxSize is refused with the numbers', () => {
    assert.throws(
      () => claimSize(100 * GIB, undefined),
      (e: unknown) => e instanceof TooLarge && /64Gi/.test(String(e)),
    );
    assert.throws(() => claimSize(2 * GIB, { storage: { maxSize: '1Gi' } }), TooLarge);
  });
  test('quantities', () => {
    assert.equal(quantityBytes('2Gi'), 2 * GIB);
    assert.equal(quantityBytes('1500M'), 1.5e9);
    assert.equal(quantityBytes('12'), 12);
    assert.equal(quantityBytes('2 GB'), null);
  });
});

describe('settings from spec.redfish.virtualMedia', () => {
  test('keeps well-typed fields, drops the others', () => {
    assert.deepEqual(
      parseMediaSettings({
        storage: {
          storageClassName: 'fast',
          volumeMode: 'Block',
          accessModes: ['ReadWriteMany', 3],
          size: '5Gi',
          maxSize: 'lots',
        },
        tls: { certConfigMap: 'ca', insecureSkipVerify: 'yes' },
        importRetries: 50,
      }),
      {
        storage: {
          storageClassName: 'fast',
          volumeMode: 'Block',
          accessModes: ['ReadWriteMany'],
          size: '5Gi',
        },
        tls: { certConfigMap: 'ca' },
      },
    );
    assert.equal(parseMediaSettings(undefined), undefined);
    assert.equal(parseMediaSettings({}), undefined);
  });
  test('the DataVolume carries them', () => {
    const vm: VirtualMachine = {
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachine',
      metadata: { name: 'v', uid: 'u' },
    };
    const dv = dataVolumeManifest({
      namespace: 'ns',
      name: 'v-vmedia-cd-00000000',
      vm,
      slotId: 'Cd',
      url: 'https://images.example/a.iso',
      storage: '3Gi',
      settings: {
        storage: { storageClassName: 'fast', accessModes: ['ReadWriteOnce'], volumeMode: 'Block' },
        tls: { insecureSkipVerify: true },
      },
    });
    assert.deepEqual(dv.spec, {
      source: { http: { url: 'https://images.example/a.iso', insecureSkipVerify: true } },
      storage: {
        resources: { requests: { storage: '3Gi' } },
        storageClassName: 'fast',
        accessModes: ['ReadWriteOnce'],
        volumeMode: 'Block',
      },
    });
  });
});

describe('retried import errors', () => {
  const vm: VirtualMachine = {
    metadata: { name: 'v' },
    spec: {
      template: {
        spec: {
          domain: { devices: { disks: [{ name: 'cdrom', cdrom: { bus: 'sata' } }] } },
          volumes: [{ name: 'cdrom', dataVolume: { name: 'v-vmedia-cd-00000000' } }],
        },
      },
    },
  } as VirtualMachine;
  const dv = (restartCount: number): DataVolume => ({
    metadata: { name: 'v-vmedia-cd-00000000' },
    spec: { source: { http: { url: 'http://x.example/a.iso' } } },
    status: {
      phase: 'ImportInProgress',
      restartCount,
      conditions: [
        {
          type: 'Running',
          status: 'False',
          reason: 'Error',
          message: 'Unable to connect to http data source: boom',
        },
      ],
    },
  });
  const at = (n: number, retries?: number) =>
    mediaSlotOf(vm, new Map([['v-vmedia-cd-00000000', dv(n)]]), undefined, null, retries)!;
  test('Inserting below the limit, with the error; Failed at it', () => {
    assert.equal(at(2).state, 'Inserting');
    assert.match(at(2).message ?? '', /CDI retries \(2 of 3\): Unable to connect/);
    assert.equal(at(3).state, 'Failed');
    assert.equal(
      at(3).message,
      'Import of the image failed (CDI retried it 3 times): Unable to connect to http data source: boom',
    );
    assert.equal(at(1, 1).state, 'Failed');
  });
});

describe('HEAD for the size', () => {
  let server: http.Server;
  const seen: Array<{ method?: string; url?: string; auth?: string }> = [];
  before(async () => {
    server = http.createServer((req, res) => {
      seen.push({
        method: req.method,
        url: req.url,
        ...(req.headers.authorization ? { auth: req.headers.authorization } : {}),
      });
      if (req.url === '/loop') return void res.writeHead(302, { Location: '/loop' }).end();
      if (req.url === '/moved') return void res.writeHead(301, { Location: '/a.iso' }).end();
      if (req.url === '/slow') return; // never answers
      if (req.url === '/a.iso') return void res.writeHead(200, { 'Content-Length': '12345' }).end();
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  const url = (p: string) => `http://127.0.0.1:${(server.address() as AddressInfo).port}${p}`;
  test('Content-Length of a 200, after redirects; null for 404, redirect loops and timeouts', async () => {
    assert.equal(
      await headContentLength(url('/moved'), { credentials: { user: 'u', password: 'p' } }),
      12345,
    );
    assert.ok(seen.every((s) => s.method === 'HEAD'));
    assert.ok(
      seen.some((s) => s.auth === `Basic ${Buffer.from('u:p').toString('base64')}`),
      'same host keeps credentials',
    );
    assert.equal(await headContentLength(url('/nope')), null);
    assert.equal(await headContentLength(url('/loop')), null);
    assert.equal(seen.filter((s) => s.url === '/loop').length, 6, 'the first request and 5 redirects');
    assert.equal(await headContentLength(url('/slow'), { timeoutMs: 300 }), null);
    assert.equal(await headContentLength('ftp://127.0.0.1/x'), null);
  });
});
