/**
 * What an agent's own ServiceAccount token may do, on the real kube-apiserver with `kubectl apply -k
 * deploy/` (its RBAC and admission policies enforced): change and delete only the DataVolumes it
 * created, no Secret at all, and create only what is its own: virtual-media DataVolumes, their
 * image-credential Secrets, and no ConfigMap (the controller creates each BMC's Redfish
 * subscriptions ConfigMap). Its job still works end to end: insert with credentials, swap, eject.
 * And an upgrade: a subscriptions ConfigMap an older agent created is adopted with its data.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { missingClients } from '../../support/clients.ts';
import { GC_TIMEOUT_MS, realOnly } from '../../support/cluster.ts';
import { waitFor } from '../../support/wait.ts';
import {
  assertForbidden,
  curl,
  kubectlAs,
  missingTools,
  type Run,
  run,
  secretYaml,
  TestCluster,
  vmYaml,
} from './helpers.ts';

// The admission policies are enforced by kube-apiserver; the embedded cluster only stores them.
const skip = missingClients('kubectl') || missingTools('curl') || realOnly().skip;

const AGENT = 'system:serviceaccount:default:kubevirtbmc-agent';
const CM = 'sample-vm-bmc-redfish-subscriptions';
const CD = '/redfish/v1/Managers/BMC/VirtualMedia/Cd';

/** A DataVolume as YAML: `spec` is more of its spec, beside a storage request. */
function dvYaml(name: string, opts: { stamp?: string; vm?: string; spec: string }): string {
  return `apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata:
  name: ${name}
  namespace: default
  labels: {bmc.kubevirt.io/vm: ${opts.vm ?? 'sample-vm'}}
${opts.stamp ? `  annotations: {bmc.kubevirt.io/created-by: "${opts.stamp}"}\n` : ''}spec:
  storage: {resources: {requests: {storage: 1Gi}}}
${opts.spec}`;
}

const HTTP_SOURCE = '  source: {http: {url: "http://127.0.0.1:9/disk.img"}}\n';

describe("an agent's token changes only what it created and creates only its own", {
  skip,
  timeout: 600_000,
}, () => {
  let c: TestCluster;
  let redfish = '';
  let uid = '';
  let stored = '';
  let agent: (args: string[], input?: string) => Promise<Run>;
  // biome-ignore lint/suspicious/noExplicitAny: JSON from kubectl
  const mediaDvs = async (): Promise<any[]> =>
    (await c.getJson(['datavolumes', '-l', 'bmc.kubevirt.io/vm=sample-vm'])).items.filter(
      (d: { metadata: { deletionTimestamp?: string } }) => !d.metadata.deletionTimestamp,
    );
  const redfishPost = async (path: string, body: unknown): Promise<string> => {
    const r = await run('curl', [
      '-sS',
      '-u',
      'admin:change-me-now',
      '-H',
      'Content-Type: application/json',
      '-d',
      JSON.stringify(body),
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--max-time',
      '20',
      `${redfish}${path}`,
    ]);
    return r.stdout.trim();
  };

  // An install over an earlier version: the BMC and the ConfigMap its agent wrote exist before this
  // controller runs. Then `kubectl apply -k deploy/` and the sample BMC Ready.
  before(async () => {
    c = await TestCluster.start();
    await c.kubectlOk(['apply', '-k', 'deploy/crd/']);
    await c.kubectlOk([
      'wait',
      '--for=condition=Established',
      'crd/virtualmachinebmcs.bmc.kubevirt.io',
      '--timeout=60s',
    ]);
    await c.kubectlOk(['apply', '-k', 'deploy/samples/']);
    uid = (await c.getJson(['vmbmc', 'sample-vm-bmc'])).metadata.uid;
    stored = JSON.stringify({
      format: 1,
      subscriptions: [
        {
          id: 'kept1',
          destination: 'http://127.0.0.1:9/events',
          context: 'left-by-an-older-agent',
          protocol: 'Redfish',
          owner: 'admin',
          // suspended: nothing is ever delivered to it
          state: 'Disabled',
        },
      ],
    });
    await c.kubectlOk(
      ['create', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: CM,
          namespace: 'default',
          labels: { 'app.kubernetes.io/managed-by': 'kubevirtbmc', 'bmc.kubevirt.io/bmc': 'sample-vm-bmc' },
          ownerReferences: [
            {
              apiVersion: 'bmc.kubevirt.io/v1beta1',
              kind: 'VirtualMachineBMC',
              name: 'sample-vm-bmc',
              uid,
              blockOwnerDeletion: false,
            },
          ],
        },
        data: { 'subscriptions.json': stored },
      }),
    );
    await c.kubectlOk(['apply', '-k', 'deploy/']);
    await c.kubectlOk(
      ['wait', '--for=condition=Ready', 'vmbmc/sample-vm-bmc', '--timeout=120s'],
      undefined,
      130_000,
    );
    redfish = (await c.getJson(['vmbmc', 'sample-vm-bmc'])).status.endpoints.redfish;
    agent = await kubectlAs(c, 'default', 'kubevirtbmc-agent');
  });
  after(() => c?.stop());

  test('upgrade: the subscriptions ConfigMap an older agent created is adopted, its subscriptions kept', async () => {
    const adopted = await waitFor(
      async () => {
        const cm = await c.getJson(['configmap', CM]);
        return cm.metadata.labels['app.kubernetes.io/managed-by'] === 'kubevirtbmc-controller' && cm;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'the ConfigMap adopted by the controller' },
    );
    assert.deepEqual(
      adopted.metadata.ownerReferences.map((o: { name: string; uid: string; controller?: boolean }) => [
        o.name,
        o.uid,
        o.controller,
      ]),
      [['sample-vm-bmc', uid, true]],
    );
    assert.equal(adopted.data['subscriptions.json'], stored, 'the subscriptions are kept as they were');
    const listed = await curl(
      `${redfish}/redfish/v1/EventService/Subscriptions/kept1`,
      'admin',
      'change-me-now',
    );
    assert.equal(listed.stdout.trim().split('\n').at(-1), '200', listed.stdout + listed.stderr);
    assert.match(listed.stdout, /"Context":\s*"left-by-an-older-agent"/);
  });

  test('the controller creates a new BMC its subscriptions ConfigMap; the agent reads and updates it', async () => {
    await c.kubectlOk(
      ['apply', '-f', '-'],
      `${vmYaml('default', 'vm2')}---\n${secretYaml('default', 'vm2-auth', 'root', 'pw-vm2')}---
apiVersion: bmc.kubevirt.io/v1beta1
kind: VirtualMachineBMC
metadata: {name: vm2-bmc, namespace: default}
spec: {virtualMachineRef: {name: vm2}, authSecretRef: {name: vm2-auth}}
`,
    );
    // Before any subscription was made: the controller made it, empty, owned by the BMC.
    const cm = await waitFor(() => c.tryGet(['configmap', 'vm2-bmc-redfish-subscriptions']), {
      timeoutMs: 30_000,
      intervalMs: 250,
      what: 'the ConfigMap of vm2-bmc',
    });
    assert.equal(cm.data, undefined);
    assert.equal(cm.metadata.ownerReferences[0].name, 'vm2-bmc');
    assert.equal(cm.metadata.ownerReferences[0].controller, true);
    // The agent's Role: get and update of exactly these, by name.
    const got = await agent(['get', 'configmap', 'vm2-bmc-redfish-subscriptions', '-o', 'name']);
    assert.equal(got.stdout.trim(), 'configmap/vm2-bmc-redfish-subscriptions', got.stderr);
    const mine = JSON.parse(
      (await agent(['get', 'configmap', 'vm2-bmc-redfish-subscriptions', '-o', 'json'])).stdout,
    );
    mine.metadata.annotations = { touched: 'by-the-agent' };
    const updated = await agent(['replace', '-f', '-'], JSON.stringify(mine));
    assert.equal(updated.code, 0, updated.stderr);
    assertForbidden(
      await agent(['delete', 'configmap', 'vm2-bmc-redfish-subscriptions', '--wait=false']),
      'deleting its ConfigMap',
    );
  });

  test("virtual media with the agent's own token: insert with credentials, swap, eject", async (t) => {
    // CDI (the fake one too) really fetches loopback URLs: a small image server on 127.0.0.1.
    const images = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Length': '1048576' });
      if (req.method === 'HEAD') res.end();
      else res.end(Buffer.alloc(1048576));
    });
    await new Promise<void>((r) => images.listen(0, '127.0.0.1', r));
    t.after(() => {
      images.closeAllConnections();
      images.close();
    });
    const base = `http://127.0.0.1:${(images.address() as AddressInfo).port}`;
    const insert = await redfishPost(`${CD}/Actions/VirtualMedia.InsertMedia`, {
      Image: `${base}/first.iso`,
      UserName: 'image-user',
      Password: 'image-pw',
      Inserted: true,
    });
    assert.match(insert, /^20[024]$/);
    const [first] = await waitFor(async () => ((await mediaDvs()).length === 1 ? mediaDvs() : undefined), {
      timeoutMs: 30_000,
      intervalMs: 250,
      what: 'the DataVolume of the first image',
    });
    assert.match(first.metadata.name, /^sample-vm-vmedia-cd-[0-9a-f]{8}$/);
    assert.equal(first.metadata.annotations['bmc.kubevirt.io/created-by'], AGENT);
    assert.equal(first.spec.source.http.secretRef, `${first.metadata.name}-auth`);
    const creds = await c.getJson(['secret', `${first.metadata.name}-auth`]);
    assert.equal(Buffer.from(creds.data.accessKeyId, 'base64').toString(), 'image-user');
    assert.equal(creds.metadata.ownerReferences[0].uid, first.metadata.uid);
    await waitFor(
      async () => /"Inserted":\s*true/.test((await curl(`${redfish}${CD}`, 'admin', 'change-me-now')).stdout),
      { timeoutMs: 30_000, intervalMs: 250, what: 'the first image inserted' },
    );

    // Another image: a new DataVolume; the agent deletes the old one (its own), and the garbage
    // collector its credentials.
    assert.match(
      await redfishPost(`${CD}/Actions/VirtualMedia.InsertMedia`, {
        Image: `${base}/second.iso`,
        Inserted: true,
      }),
      /^20[024]$/,
    );
    const [second] = await waitFor(
      async () => {
        const dvs = await mediaDvs();
        return dvs.length === 1 && dvs[0].metadata.name !== first.metadata.name ? dvs : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'only the DataVolume of the second image' },
    );
    assert.equal(second.spec.source.http.url, `${base}/second.iso`);
    assert.equal(second.spec.source.http.secretRef, undefined);
    await waitFor(async () => (await c.tryGet(['secret', `${first.metadata.name}-auth`])) === null, {
      timeoutMs: GC_TIMEOUT_MS,
      intervalMs: 500,
      what: 'the first image credentials collected with their DataVolume',
    });

    assert.match(await redfishPost(`${CD}/Actions/VirtualMedia.EjectMedia`, {}), /^20[04]$/);
    await waitFor(async () => (await mediaDvs()).length === 0, {
      timeoutMs: 30_000,
      intervalMs: 250,
      what: 'no media DataVolume after the eject',
    });
  });

  test('it may not delete, update or patch DataVolumes and Secrets it did not create', async () => {
    const other = 'system:serviceaccount:default:vbmc-other-vm-bmc';
    await c.kubectlOk(
      ['apply', '-f', '-'],
      `${vmYaml('default', 'other-vm')}---
${dvYaml('other-vm-rootdisk', { vm: 'other-vm', spec: HTTP_SOURCE })}---
${dvYaml('other-vm-vmedia-cd-0badc0de', { vm: 'other-vm', stamp: other, spec: HTTP_SOURCE })}---
${secretYaml('default', 'other-secret', 'app', 'app-pw')}`,
    );
    const otherMedia = await c.getJson(['datavolume', 'other-vm-vmedia-cd-0badc0de']);
    await c.kubectlOk(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'Opaque',
        metadata: {
          name: 'other-vm-vmedia-cd-0badc0de-auth',
          namespace: 'default',
          ownerReferences: [
            {
              apiVersion: 'cdi.kubevirt.io/v1beta1',
              kind: 'DataVolume',
              name: otherMedia.metadata.name,
              uid: otherMedia.metadata.uid,
            },
          ],
        },
        stringData: { accessKeyId: 'someone', secretKey: 'their-image-pw' },
      }),
    );
    const changed = /may only change or delete the DataVolumes it created/;
    for (const dv of ['other-vm-rootdisk', 'other-vm-vmedia-cd-0badc0de']) {
      assertForbidden(
        await agent(['delete', 'datavolume', dv, '--wait=false']),
        `deleting DataVolume ${dv}`,
        changed,
      );
      assertForbidden(
        await agent(['patch', 'datavolume', dv, '--type=merge', '-p', '{"metadata":{"labels":{"x":"y"}}}']),
        `patching DataVolume ${dv}`,
      );
      const live = await c.getJson(['datavolume', dv]);
      live.metadata.labels.x = 'y';
      assertForbidden(await agent(['replace', '-f', '-'], JSON.stringify(live)), `updating DataVolume ${dv}`);
    }
    for (const secret of ['other-secret', 'other-vm-vmedia-cd-0badc0de-auth']) {
      assertForbidden(await agent(['delete', 'secret', secret, '--wait=false']), `deleting Secret ${secret}`);
      assertForbidden(
        await agent(['patch', 'secret', secret, '--type=merge', '-p', '{"stringData":{"secretKey":"x"}}']),
        `patching Secret ${secret}`,
      );
      const live = await c.getJson(['secret', secret]);
      live.metadata.labels = { x: 'y' };
      assertForbidden(await agent(['replace', '-f', '-'], JSON.stringify(live)), `updating Secret ${secret}`);
    }
    for (const dv of ['other-vm-rootdisk', 'other-vm-vmedia-cd-0badc0de']) {
      const after = await c.getJson(['datavolume', dv]);
      assert.ok(!after.metadata.deletionTimestamp, `${dv} is not being deleted`);
      assert.equal(after.metadata.labels.x, undefined, `${dv} unchanged`);
    }
    const secret = await c.getJson(['secret', 'other-vm-vmedia-cd-0badc0de-auth']);
    assert.equal(Buffer.from(secret.data.secretKey, 'base64').toString(), 'their-image-pw');
    assert.equal(secret.metadata.labels, undefined);
    assert.ok(await c.tryGet(['secret', 'other-secret']));
  });

  test('it may create only its own kind of Secret, DataVolume and no ConfigMap', async () => {
    const refused = async (yaml: string, what: string, message?: RegExp) =>
      assertForbidden(await agent(['create', '-f', '-'], yaml), what, message);
    // Secrets: image credentials only. Before, an agent could obtain any ServiceAccount's token of
    // its namespace: a BMC names a Secret that does not exist yet, which the agent may read; the
    // agent created it as a token Secret of that ServiceAccount and read what the cluster minted.
    await c.kubectlOk(['create', 'serviceaccount', 'app-admin']);
    await c.kubectlOk(
      ['apply', '-f', '-'],
      `apiVersion: bmc.kubevirt.io/v1beta1
kind: VirtualMachineBMC
metadata: {name: vm3-bmc, namespace: default}
spec: {virtualMachineRef: {name: other-vm}, authSecretRef: {name: vm3-auth}}
`,
    );
    await waitFor(
      async () =>
        JSON.stringify((await c.getJson(['role', 'kubevirtbmc-agent'])).rules).includes('"vm3-auth"'),
      { timeoutMs: 30_000, intervalMs: 250, what: "the agent's Role naming vm3-auth" },
    );
    await refused(
      `apiVersion: v1
kind: Secret
metadata: {name: vm3-auth, namespace: default, annotations: {kubernetes.io/service-account.name: app-admin}}
type: kubernetes.io/service-account-token
`,
      'a token Secret for another ServiceAccount, under a name it may read',
    );
    const token = await agent(['get', 'secret', 'vm3-auth', '-o', 'jsonpath={.data.token}']);
    assert.match(token.stderr, /NotFound|not found/, 'no such Secret, no token');
    await c.kubectlOk(['delete', 'vmbmc', 'vm3-bmc']);
    await refused(
      `apiVersion: v1
kind: Secret
metadata:
  name: sample-vm-vmedia-cd-12345678-auth
  namespace: default
  annotations: {kubernetes.io/service-account.name: default}
type: kubernetes.io/service-account-token
`,
      'a token Secret, under an image credentials name',
      /may only create Secrets of type Opaque/,
    );
    await refused(
      secretYaml('default', 'db-credentials', 'app', 'pw'),
      'a Secret under any name',
      /may only create image credentials Secrets named/,
    );
    await refused(
      `apiVersion: v1
kind: Secret
metadata: {name: sample-vm-vmedia-cd-12345678-auth, namespace: default}
type: Opaque
stringData: {accessKeyId: a, secretKey: b}
`,
      'image credentials without their DataVolume',
      /owned by its DataVolume/,
    );
    // ConfigMaps: none at all (the controller creates the subscriptions ConfigMaps).
    for (const name of ['anything', 'not-a-bmc-redfish-subscriptions']) {
      await refused(
        `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}, namespace: default}\n`,
        `ConfigMap ${name}`,
        /cannot create resource "configmaps"/,
      );
    }
    // DataVolumes: virtual media, imported over HTTP(S), stamped with its own name.
    await refused(
      dvYaml('other-vm-rootdisk-2', { vm: 'other-vm', stamp: AGENT, spec: HTTP_SOURCE }),
      'a DataVolume under a name another VM may wait for',
      /may only create virtual-media DataVolumes/,
    );
    await refused(
      dvYaml('sample-vm-vmedia-cd-11111111', {
        stamp: AGENT,
        spec: '  source: {pvc: {name: other-vm-rootdisk, namespace: default}}\n',
      }),
      'a clone of another VM disk',
      /importing an image over HTTP/,
    );
    await refused(
      dvYaml('sample-vm-vmedia-cd-22222222', {
        stamp: AGENT,
        spec: '  source: {http: {url: "http://127.0.0.1:9/x.iso", secretRef: other-secret}}\n',
      }),
      'an import sending another Secret as credentials',
      /may only reference the image credentials Secret sample-vm-vmedia-cd-22222222-auth/,
    );
    await refused(
      dvYaml('sample-vm-vmedia-cd-33333333', {
        stamp: AGENT,
        spec: '  source: {http: {url: "http://127.0.0.1:9/x.iso", secretExtraHeaders: [other-secret]}}\n',
      }),
      'an import sending another Secret as headers',
      /importing an image over HTTP/,
    );
    await refused(
      `apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata:
  name: sample-vm-vmedia-cd-44444444
  namespace: default
  labels: {bmc.kubevirt.io/vm: sample-vm}
  annotations: {bmc.kubevirt.io/created-by: "${AGENT}"}
spec:
${HTTP_SOURCE}  storage:
    resources: {requests: {storage: 1Gi}}
    dataSourceRef: {kind: PersistentVolumeClaim, name: other-vm-rootdisk}
`,
      'a DataVolume copying another volume',
      /may not create DataVolumes that copy another volume/,
    );
    await refused(
      `apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata:
  name: sample-vm-vmedia-cd-55555555
  namespace: default
  labels: {bmc.kubevirt.io/vm: sample-vm}
  annotations: {bmc.kubevirt.io/created-by: "${AGENT}"}
spec:
${HTTP_SOURCE}  storage:
    resources: {requests: {storage: 1Gi}}
    selector: {matchLabels: {disk: other-vm-rootdisk}}
`,
      'a claim selecting a particular volume',
      /spec\.storage holding resources, storageClassName, accessModes and volumeMode only/,
    );
    // The BMC's virtual-media settings (spec.redfish.virtualMedia) are allowed: TLS trust and the claim's class,
    // access modes and volume mode.
    const tuned = 'sample-vm-vmedia-cd-7e57ab1e';
    const withSettings = await agent(
      ['create', '-f', '-'],
      `apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata:
  name: ${tuned}
  namespace: default
  labels: {bmc.kubevirt.io/vm: sample-vm}
  annotations: {bmc.kubevirt.io/created-by: "${AGENT}"}
spec:
  source: {http: {url: "https://127.0.0.1:9/own.iso", certConfigMap: images-ca, insecureSkipVerify: false}}
  storage:
    resources: {requests: {storage: 3Gi}}
    storageClassName: fast-local
    accessModes: [ReadWriteOnce]
    volumeMode: Filesystem
`,
    );
    assert.equal(withSettings.code, 0, withSettings.stderr);
    assert.equal((await agent(['delete', 'datavolume', tuned, '--wait=false'])).code, 0);
    // What it makes itself is still allowed, and it may delete it again.
    const own = 'sample-vm-vmedia-cd-5ca1ab1e';
    const made = await agent(
      ['create', '-f', '-'],
      dvYaml(own, {
        stamp: AGENT,
        spec: `  source: {http: {url: "http://127.0.0.1:9/own.iso", secretRef: ${own}-auth}}\n`,
      }),
    );
    assert.equal(made.code, 0, made.stderr);
    const dv = await c.getJson(['datavolume', own]);
    const creds = await agent(
      ['create', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'Opaque',
        metadata: {
          name: `${own}-auth`,
          namespace: 'default',
          ownerReferences: [
            { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', name: own, uid: dv.metadata.uid },
          ],
        },
        data: { accessKeyId: 'dQ==', secretKey: 'cA==' },
      }),
    );
    assert.equal(creds.code, 0, creds.stderr);
    const removed = await agent(['delete', 'datavolume', own, '--wait=false']);
    assert.equal(removed.code, 0, removed.stderr);
    for (const name of ['db-credentials', 'sample-vm-vmedia-cd-12345678-auth'])
      assert.equal(await c.tryGet(['secret', name]), null, `no Secret ${name}`);
    for (const name of ['anything', 'not-a-bmc-redfish-subscriptions'])
      assert.equal(await c.tryGet(['configmap', name]), null, `no ConfigMap ${name}`);
  });

  test('deleting a BMC removes its subscriptions ConfigMap', async () => {
    await c.kubectlOk(['delete', 'vmbmc', 'vm2-bmc'], undefined, 60_000);
    await waitFor(async () => (await c.tryGet(['configmap', 'vm2-bmc-redfish-subscriptions'])) === null, {
      timeoutMs: GC_TIMEOUT_MS,
      intervalMs: 300,
      what: 'the ConfigMap of vm2-bmc gone',
    });
  });
});
