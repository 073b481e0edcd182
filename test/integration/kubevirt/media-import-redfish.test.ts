/**
 * What a Redfish user sees of a failing import, with curl against an agent (AgentHost with the
 * KubeVirt wiring) on the test cluster: InsertMedia of an image server's 404 URL is accepted (202
 * and a task), the task ends in Exception with CDI's message once CDI has retried the import three
 * times, the VirtualMedia says `Inserted: false`, and a Warning Event `InsertMediaFailed` names the
 * error. The image servers run on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { AgentHost } from '../../../src/agent/host.ts';
import { defaultWiring } from '../../../src/agent/wiring.ts';
import { KubeClient } from '../../../src/kube/client.ts';
import { KubeConfigAccess } from '../../../src/kube/config.ts';
import { startCluster, type TestCluster } from '../../support/cluster.ts';
import { loadKubeConfig, UserClient, uniqueName, vmManifest } from '../../support/kubevirt-fixtures.ts';
import { runCommand } from '../../support/run.ts';
import { waitFor } from '../../support/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON from Redfish and the API server
type Json = any;
const NS = 'default';
const CD = '/redfish/v1/Managers/BMC/VirtualMedia/Cd';
let cluster: TestCluster;
let client: KubeClient;
let host: AgentHost;
let images: http.Server;
let port = 0;
let vm = '';

async function freeTcpPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port: p } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

async function curl(method: string, path: string, body?: unknown): Promise<{ code: number; json: Json }> {
  const r = await runCommand('curl', [
    '-sS',
    '--max-time',
    '30',
    '-u',
    'admin:password',
    '-X',
    method,
    ...(body === undefined ? [] : ['-H', 'Content-Type: application/json', '-d', JSON.stringify(body)]),
    '-w',
    '\n%{http_code}',
    `http://127.0.0.1:${port}${path}`,
  ]);
  const lines = r.stdout.trimEnd().split('\n');
  const code = Number(lines.pop());
  const text = lines.join('\n');
  return { code, json: text ? JSON.parse(text) : {} };
}

before(async () => {
  images = http.createServer((req, res) => {
    res.on('error', () => {});
    if (req.url === '/missing.iso') return void res.writeHead(404).end('not found');
    res.writeHead(200, { 'Content-Length': String(3 * 1024 ** 3) });
    if (req.method === 'HEAD') res.end();
    else res.write(Buffer.alloc(64 * 1024));
  });
  await new Promise<void>((r) => images.listen(0, '127.0.0.1', r));
  cluster = await startCluster({ timing: 'fast' });
  const access = KubeConfigAccess.load(cluster.kubeconfigPath);
  client = new KubeClient(access);
  vm = uniqueName('rfimport');
  await new UserClient(loadKubeConfig(cluster.kubeconfigPath)).createVm(
    vmManifest(vm, { runStrategy: 'Halted' }),
  );
  const wiring = defaultWiring(access, { client });
  host = new AgentHost({ client, servers: wiring.servers, machines: wiring.machines, address: '127.0.0.1' });
  port = await freeTcpPort();
  await host.sync([
    {
      key: `${NS}/${vm}`,
      namespace: NS,
      vm,
      eventTarget: { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: vm },
      credentials: { kind: 'static', username: 'admin', password: 'password' },
      tls: null,
      ipmiPort: 0,
      redfishPort: port,
      media: { importRetries: 3 },
    },
  ]);
});

after(async () => {
  await host?.stop();
  client?.close();
  await cluster?.stop();
  images?.closeAllConnections();
  images?.close();
});

test('InsertMedia of a 404 URL: a task that ends in Exception with CDI’s message, Inserted false, a Warning Event', {
  timeout: 120_000,
}, async () => {
  await waitFor(async () => (await curl('GET', CD)).code === 200, { timeoutMs: 20_000, what: 'Redfish up' });
  const image = `http://127.0.0.1:${(images.address() as AddressInfo).port}/missing.iso`;
  const r = await curl('POST', `${CD}/Actions/VirtualMedia.InsertMedia`, { Image: image, Inserted: true });
  assert.equal(r.code, 202, JSON.stringify(r.json));
  const monitor: string = r.json['@odata.id'];
  const task = await waitFor(
    async () => {
      const t = (await curl('GET', monitor)).json;
      return t.TaskState && t.TaskState !== 'Running' && t.TaskState !== 'New' ? t : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 200, what: 'the task ends' },
  );
  assert.equal(task.TaskState, 'Exception');
  assert.equal(task.TaskStatus, 'Critical');
  assert.match(
    task.Messages[0].Resolution,
    /CDI retried it 3 times\): Unable to connect to http data source: expected status code 200, got 404/,
  );
  const media = (await curl('GET', CD)).json;
  assert.equal(media.Inserted, false);
  assert.equal(media.Status.Health, 'Critical');
  const events = await waitFor(
    async () => {
      const list = await client.request<{ items: Json[] }>('GET', `/api/v1/namespaces/${NS}/events`);
      const mine = list.items.filter(
        (e) => e.involvedObject?.name === vm && e.reason === 'InsertMediaFailed',
      );
      return mine.length ? mine : undefined;
    },
    { timeoutMs: 10_000, what: 'the Event' },
  );
  assert.equal(events[0].type, 'Warning');
  assert.match(events[0].message, /missing\.iso in Cd failed: .*got 404/);
});

test('InsertMedia of a 3 GiB image (its Content-Length) makes a claim large enough, and it imports', {
  timeout: 120_000,
}, async () => {
  const image = `http://127.0.0.1:${(images.address() as AddressInfo).port}/big.iso`;
  const r = await curl('POST', `${CD}/Actions/VirtualMedia.InsertMedia`, { Image: image, Inserted: true });
  assert.ok([202, 204].includes(r.code), JSON.stringify(r.json));
  await waitFor(async () => (await curl('GET', CD)).json.Oem?.KubeVirt?.MediaState === 'Inserted', {
    timeoutMs: 30_000,
    intervalMs: 200,
    what: 'Inserted',
  });
  const dvs = await client.request<{ items: Json[] }>(
    'GET',
    `/apis/cdi.kubevirt.io/v1beta1/namespaces/${NS}/datavolumes?labelSelector=bmc.kubevirt.io/vm=${vm}`,
  );
  const live = dvs.items.filter((d) => !d.metadata.deletionTimestamp && d.spec.source.http.url === image);
  assert.equal(live.length, 1);
  assert.equal(
    live[0].spec.storage.resources.requests.storage,
    `${Math.ceil((3 * 1024 ** 3 * 1.06 + 64 * 1024 ** 2) / 1024 ** 2)}Mi`,
  );
});
