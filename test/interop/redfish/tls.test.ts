import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { ADMIN, type RedfishFixture, rawRequest, startRedfish } from '../../support/redfish-service.ts';
import { selfSignedCert } from '../../support/redfish-tls.ts';

/** HTTPS with a given certificate and key: the same service, TLS 1.2 or later only. */
let fx: RedfishFixture;
let cert: string;

before(async () => {
  const pair = selfSignedCert();
  cert = pair.cert;
  fx = await startRedfish({ tls: pair });
});
after(async () => fx?.close());

test('the service answers over HTTPS with the configured certificate', async () => {
  assert.match(fx.url, /^https:/);
  const root = await fx.request('GET', '/redfish/v1/', { auth: null });
  assert.equal(root.status, 200);
  const sys = await fx.request('GET', '/redfish/v1/Systems/1', { auth: ADMIN });
  assert.equal(sys.status, 200);
  const presented = await new Promise<string>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: fx.port, ca: cert, servername: undefined }, () => {
      resolve(s.getPeerX509Certificate()?.toString() ?? '');
      s.end();
    });
    s.on('error', reject);
  });
  assert.equal(presented.replace(/\s/g, ''), cert.replace(/\s/g, ''), 'the configured certificate, verified');
});

test('TLS below 1.2 is refused', async () => {
  const outcome = await new Promise<string>((resolve) => {
    const s = tls.connect(
      {
        host: '127.0.0.1',
        port: fx.port,
        rejectUnauthorized: false,
        maxVersion: 'TLSv1.1',
        minVersion: 'TLSv1',
      },
      () => {
        resolve(`connected with ${s.getProtocol()}`);
        s.end();
      },
    );
    s.on('error', () => resolve('refused'));
  });
  assert.equal(outcome, 'refused');
});

test('plain HTTP to the HTTPS port gets no Redfish answer', async () => {
  const r = await rawRequest('http', fx.port, 'GET', '/redfish/v1/', { auth: null }).catch(() => null);
  assert.ok(r === null || r.status === 400, `got ${r?.status}`);
});
