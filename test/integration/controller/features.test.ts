/**
 * The optional features: Redfish over HTTPS from a TLS Secret, Redfish-only BMCs, auto-create from
 * a VM label, the controller's own health and metrics, and leader election between two replicas.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BmcController } from '../../../src/controller/controller.ts';
import { missingClients } from '../../support/clients.ts';
import { waitFor } from '../../support/wait.ts';
import { bmcYaml, ipmitool, missingTools, run, secretYaml, TestCluster, vmYaml } from './helpers.ts';

const skip = missingClients('kubectl', 'ipmitool') || missingTools('curl', 'openssl');
const IMAGE = 'ghcr.io/kubevirtbmc-project/kubevirtbmc:test';

describe('optional features', { skip, timeout: 600_000 }, () => {
  let c: TestCluster;
  let controller: BmcController;

  before(async () => {
    c = await TestCluster.start();
    await c.kubectlOk(['apply', '-k', 'deploy/crd/']);
    controller = new BmcController({
      kubeConfig: c.kubeConfig(),
      placement: 'per-vm',
      agent: { image: IMAGE },
      autoCreateLabel: 'bmc.kubevirt.io/enabled=true',
      metricsPort: 0,
      metricsHost: '127.0.0.1',
    });
    await controller.start();
  });
  after(async () => {
    await controller?.stop();
    await c?.stop();
  });

  test('Redfish over HTTPS from a TLS Secret, IPMI off', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tls-'));
    const gen = await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=bmc.test',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'crt.pem'),
    ]);
    assert.equal(gen.code, 0, gen.stderr);
    const tls = `apiVersion: v1\nkind: Secret\nmetadata: {name: tls1, namespace: default}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: ${readFileSync(join(dir, 'crt.pem')).toString('base64')}\n  tls.key: ${readFileSync(join(dir, 'key.pem')).toString('base64')}\n`;
    await c.kubectlOk(
      ['apply', '-f', '-'],
      [
        vmYaml('default', 'vm-tls'),
        secretYaml('default', 'auth-tls', 'admin', 'tls-pw'),
        tls,
        bmcYaml(
          'default',
          'bmc-tls',
          'vm-tls',
          'auth-tls',
          '  ipmi: {enabled: false}\n  redfish: {tlsSecretRef: {name: tls1}}\n',
        ),
      ].join('---\n'),
    );
    await c.kubectlOk(
      ['wait', '--for=condition=Ready', 'vmbmc/bmc-tls', '--timeout=120s'],
      undefined,
      130_000,
    );
    const st = (await c.getJson(['vmbmc', 'bmc-tls'])).status;
    assert.equal(st.endpoints.ipmi, undefined, 'no IPMI endpoint');
    assert.match(st.endpoints.redfish, /^https:\/\/127\.0\.0\.1:\d+$/);
    const svc = await c.getJson(['service', 'vbmc-bmc-tls']);
    assert.deepEqual(
      svc.spec.ports.map((p: { port: number; protocol: string }) => `${p.port}/${p.protocol}`),
      ['443/TCP'],
    );
    const r = await run('curl', [
      '-sS',
      '-k',
      '-u',
      'admin:tls-pw',
      '-w',
      '\n%{http_code}',
      '--max-time',
      '10',
      `${st.endpoints.redfish}/redfish/v1/Systems/1`,
    ]);
    assert.equal(r.stdout.trim().split('\n').at(-1), '200', r.stderr);
    const plain = await run('curl', [
      '-sS',
      '--max-time',
      '5',
      st.endpoints.redfish.replace('https:', 'http:') + '/redfish/v1',
    ]);
    assert.notEqual(plain.stdout.includes('"RedfishVersion"'), true, 'not served over plain HTTP');
  });

  test('service type NodePort with a fixed Redfish node port', async () => {
    await c.kubectlOk(
      ['apply', '-f', '-'],
      [
        vmYaml('default', 'vm-np'),
        secretYaml('default', 'auth-np', 'admin', 'np-pw'),
        bmcYaml(
          'default',
          'bmc-np',
          'vm-np',
          'auth-np',
          '  service: {type: NodePort, redfishNodePort: 30080}\n',
        ),
      ].join('---\n'),
    );
    await c.kubectlOk(
      ['wait', '--for=condition=Ready', 'vmbmc/bmc-np', '--timeout=120s'],
      undefined,
      130_000,
    );
    const svc = await c.getJson(['service', 'vbmc-bmc-np']);
    assert.equal(svc.spec.type, 'NodePort');
    const rf = svc.spec.ports.find((p: { name: string }) => p.name === 'redfish');
    assert.equal(rf.nodePort, 30080);
    const ipmi = svc.spec.ports.find((p: { name: string }) => p.name === 'ipmi');
    assert.equal(ipmi.port, 623);
  });

  test('auto-create: a labelled VM gets a BMC and a generated Secret', async () => {
    const yaml = vmYaml('default', 'vm-auto').replace(
      'metadata: {name: vm-auto, namespace: default}',
      'metadata: {name: vm-auto, namespace: default, labels: {bmc.kubevirt.io/enabled: "true"}}',
    );
    await c.kubectlOk(['apply', '-f', '-'], yaml);
    await waitFor(async () => (await c.tryGet(['vmbmc', 'vm-auto'])) !== null, {
      timeoutMs: 30_000,
      intervalMs: 250,
      what: 'auto-created BMC',
    });
    await c.kubectlOk(
      ['wait', '--for=condition=Ready', 'vmbmc/vm-auto', '--timeout=120s'],
      undefined,
      130_000,
    );
    const secret = await c.getJson(['secret', 'vm-auto-bmc-auth']);
    const data = secret.data ?? {};
    const user = data.username ? Buffer.from(data.username, 'base64').toString() : secret.stringData.username;
    const pw = data.password ? Buffer.from(data.password, 'base64').toString() : secret.stringData.password;
    assert.equal(user, 'admin');
    assert.equal(pw.length, 16);
    const st = (await c.getJson(['vmbmc', 'vm-auto'])).status;
    const r = await ipmitool(st.endpoints.ipmi, user, pw, 'power', 'status');
    assert.equal(r.stdout.trim(), 'Chassis Power is off', r.stderr);
    // An unlabelled VM gets none.
    await c.kubectlOk(['apply', '-f', '-'], vmYaml('default', 'vm-plain'));
    await controller.idle();
    assert.equal(await c.tryGet(['vmbmc', 'vm-plain']), null);
  });

  test('the controller serves /healthz, /readyz and Prometheus /metrics', async () => {
    const a = controller.metricsAddress!;
    const base = `http://127.0.0.1:${a.port}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    const m = await (await fetch(`${base}/metrics`)).text();
    assert.match(m, /kubevirtbmc_controller_reconciles_total\{result="success"\} \d+/);
    assert.match(m, /kubevirtbmc_controller_bmcs\{ready="True"\} 3/);
    assert.match(m, /kubevirtbmc_controller_is_leader 1/);
  });
});

describe('leader election between two replicas', {
  skip: missingClients('kubectl'),
  timeout: 300_000,
}, () => {
  let c: TestCluster;
  const replicas: BmcController[] = [];

  before(async () => {
    c = await TestCluster.start();
    await c.kubectlOk(['apply', '-k', 'deploy/crd/']);
    await c.kubectlOk(
      ['apply', '-f', '-'],
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: kubevirtbmc-system}\n',
    );
    for (const id of ['replica-a', 'replica-b']) {
      replicas.push(
        new BmcController({
          kubeConfig: c.kubeConfig(),
          placement: 'shared',
          agent: { image: 'registry.example/not-an-agent:1' },
          leaderElection: {
            namespace: 'kubevirtbmc-system',
            identity: id,
            leaseDurationSeconds: 2,
            renewDeadlineMs: 1500,
            retryPeriodMs: 300,
          },
          metricsPort: null,
        }),
      );
    }
    await Promise.all(replicas.map((r) => r.start()));
  });
  after(async () => {
    for (const r of replicas) await r.stop().catch(() => {});
    await c?.stop();
  });

  test('exactly one replica leads and reconciles; the other takes over when it goes', async () => {
    await waitFor(() => replicas.some((r) => r.isLeader), {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: 'a leader',
    });
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(replicas.filter((r) => r.isLeader).length, 1);
    const leader = replicas.find((r) => r.isLeader)!;
    const standby = replicas.find((r) => !r.isLeader)!;
    const lease = await c.getJson(['-n', 'kubevirtbmc-system', 'lease', 'kubevirtbmc-controller']);
    assert.equal(lease.spec.holderIdentity, leader.identity);

    await c.kubectlOk(
      ['apply', '-f', '-'],
      [
        vmYaml('default', 'vm1'),
        secretYaml('default', 'a1', 'admin', 'pw'),
        bmcYaml('default', 'b1', 'vm1', 'a1'),
      ].join('---\n'),
    );
    await c.kubectlOk(['wait', '--for=condition=Ready', 'vmbmc/b1', '--timeout=60s'], undefined, 70_000);
    const reconciles = async (r: BmcController) =>
      Number(
        /kubevirtbmc_controller_reconciles_total\{result="success"\} (\d+)/.exec(
          await r.registry.metrics(),
        )?.[1] ?? 0,
      );
    assert.ok((await reconciles(leader)) > 0, 'the leader reconciled');
    assert.equal(await reconciles(standby), 0, 'the standby did not');

    await leader.stop();
    await waitFor(() => standby.isLeader, {
      timeoutMs: 15_000,
      intervalMs: 100,
      what: 'the standby takes over',
    });
    const after = await c.getJson(['-n', 'kubevirtbmc-system', 'lease', 'kubevirtbmc-controller']);
    assert.equal(after.spec.holderIdentity, standby.identity);
    assert.ok(after.spec.leaseTransitions >= 1);
    await c.kubectlOk(
      ['apply', '-f', '-'],
      [
        vmYaml('default', 'vm2'),
        secretYaml('default', 'a2', 'admin', 'pw'),
        bmcYaml('default', 'b2', 'vm2', 'a2'),
      ].join('---\n'),
    );
    await c.kubectlOk(['wait', '--for=condition=Ready', 'vmbmc/b2', '--timeout=60s'], undefined, 70_000);
  });
});
