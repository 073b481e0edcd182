/**
 * What a user does: `kubectl apply -k deploy/` (the controller runs as a 2-replica Deployment in the
 * test cluster, the real control plane when built, with its own ServiceAccount and RBAC), then the sample, then talks to the BMC
 * with ipmitool and curl; then rotates the password, breaks things and watches them heal.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { missingClients } from '../../support/clients.ts';
import { waitFor } from '../../support/wait.ts';
import {
  assertForbidden,
  bmcYaml,
  curl,
  ipmitool,
  kubectlAs,
  missingTools,
  run,
  secretYaml,
  TestCluster,
  vmYaml,
} from './helpers.ts';

const skip = missingClients('kubectl', 'ipmitool') || missingTools('curl');

describe('install with kubectl apply -k deploy/ and use the sample BMC', { skip, timeout: 600_000 }, () => {
  let c: TestCluster;
  // biome-ignore lint/suspicious/noExplicitAny: status JSON
  let status: any;

  before(async () => {
    c = await TestCluster.start();
  });
  after(() => c?.stop());

  test('kubectl apply -k deploy/ installs the CRD, RBAC and the controller', async () => {
    const out = await c.kubectlOk(['apply', '-k', 'deploy/']);
    assert.match(
      out,
      /customresourcedefinition.apiextensions.k8s.io\/virtualmachinebmcs.bmc.kubevirt.io created/,
    );
    assert.match(out, /deployment.apps\/kubevirtbmc-controller created/);
    await waitFor(
      async () =>
        (await c.getJson(['-n', 'kubevirtbmc-system', 'deployment', 'kubevirtbmc-controller'])).status
          ?.availableReplicas === 2,
      { timeoutMs: 60_000, intervalMs: 250, what: 'two controller replicas available' },
    );
  });

  test('the sample becomes Ready (kubectl wait) and shows in kubectl get vmbmc', async () => {
    await c.kubectlOk(['apply', '-k', 'deploy/samples/']);
    const out = await c.kubectlOk(
      ['wait', '--for=condition=Ready', 'vmbmc/sample-vm-bmc', '--timeout=120s'],
      undefined,
      130_000,
    );
    assert.match(out, /sample-vm-bmc condition met/);
    const table = await c.kubectlOk(['get', 'vmbmc']);
    assert.match(table, /^NAME\s+VM\s+READY\s+IPMI\s+REDFISH\s+AGE/m);
    assert.match(table, /^sample-vm-bmc\s+sample-vm\s+True\s+127\.0\.0\.1:\d+\s+http:\/\/127\.0\.0\.1:\d+/m);
    status = (await c.getJson(['vmbmc', 'sample-vm-bmc'])).status;
    assert.match(status.clusterIP, /^10\./);
    assert.equal(status.placement, 'shared');
    // The Ready condition and its Event name the address a user reaches, and say what kind it is.
    const readyCond = status.conditions.find((x: { type: string }) => x.type === 'Ready');
    assert.match(
      readyCond.message,
      /^IPMI at 127\.0\.0\.1:\d+, Redfish at http:\/\/127\.0\.0\.1:\d+ \(published on the node's host by the cluster\)$/,
    );
    const readyEvents = (
      await c.getJson(['events', '--field-selector', 'involvedObject.name=sample-vm-bmc,reason=BMCReady'])
    ).items;
    assert.ok(readyEvents.length >= 1, 'a BMCReady Event');
    for (const e of readyEvents)
      assert.doesNotMatch(e.message, /10\.\d+\.\d+\.\d+/, 'never the unreachable cluster IP');
  });

  test('ipmitool talks to the BMC: status, power on, audit Event names who did it', async () => {
    const st = await ipmitool(status.endpoints.ipmi, 'admin', 'change-me-now', 'power', 'status');
    assert.equal(st.stdout.trim(), 'Chassis Power is off', st.stderr);
    const on = await ipmitool(status.endpoints.ipmi, 'admin', 'change-me-now', 'power', 'on');
    assert.equal(on.stdout.trim(), 'Chassis Power Control: Up/On', on.stderr);
    await waitFor(async () => (await c.getJson(['vm', 'sample-vm'])).spec.runStrategy === 'Always', {
      timeoutMs: 20_000,
      intervalMs: 200,
      what: 'the VM started',
    });
    const events = await waitFor(
      async () => {
        const list = await c.getJson(['events']);
        return list.items.find(
          (e: { involvedObject: { name: string }; reason: string; message: string }) =>
            e.involvedObject.name === 'sample-vm-bmc' && e.reason === 'PowerAction',
        );
      },
      { timeoutMs: 20_000, intervalMs: 250, what: 'a PowerAction Event' },
    );
    assert.match(events.message, /^power On by admin from 127\.0\.0\.1:\d+ over ipmi$/);
    assert.equal(events.involvedObject.kind, 'VirtualMachineBMC');
  });

  test('curl GETs the Redfish system; a wrong password gets 401', async () => {
    const ok = await curl(`${status.endpoints.redfish}/redfish/v1/Systems/1`, 'admin', 'change-me-now');
    const lines = ok.stdout.trim().split('\n');
    assert.equal(lines.at(-1), '200', ok.stderr);
    assert.match(lines.slice(0, -1).join('\n'), /"PowerState"/);
    const bad = await curl(`${status.endpoints.redfish}/redfish/v1/Systems/1`, 'admin', 'wrong');
    assert.equal(bad.stdout.trim().split('\n').at(-1), '401');
  });

  test("KubeVirt's hot-plug gates: read by the controller, shown as a condition, obeyed by the agent", async () => {
    const hotplug = async () =>
      (await c.getJson(['vmbmc', 'sample-vm-bmc'])).status.conditions.find(
        (x: { type: string }) => x.type === 'MediaHotplugAvailable',
      );
    // The controller's own ServiceAccount reads the KubeVirt CR (KubeVirt 1.9 defaults: no gate named).
    const on = await waitFor(async () => (await hotplug())?.status === 'True' && (await hotplug()), {
      timeoutMs: 30_000,
      what: 'MediaHotplugAvailable=True',
    });
    assert.equal(on.reason, 'DeclarativeHotplugVolumes');
    const agentPod = async () =>
      (await c.getJson(['pods', '-l', 'app.kubernetes.io/component=agent'])).items.map(
        (p: { metadata: { uid: string } }) => p.metadata.uid,
      );
    const podsBefore = await agentPod();
    const gates = (list: string[]) =>
      c.kubectlOk([
        '-n',
        'kubevirt',
        'patch',
        'kubevirt',
        'kubevirt',
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { configuration: { developerConfiguration: { featureGates: list } } } }),
      ]);
    // Installing kubevirtbmc does not take over KubeVirt's own name: a CRD category `kubevirt` used to
    // make `kubectl get kubevirt` list VirtualMachineBMCs instead of the KubeVirt CR.
    assert.match(await c.kubectlOk(['-n', 'kubevirt', 'get', 'kubevirt']), /^kubevirt\s/m);
    await gates(['HotplugVolumes']);
    try {
      const off = await waitFor(async () => (await hotplug())?.status === 'False' && (await hotplug()), {
        timeoutMs: 30_000,
        what: 'MediaHotplugAvailable=False',
      });
      assert.equal(off.reason, 'HotplugVolumesEnabled');
      assert.match(
        off.message,
        /remove HotplugVolumes from spec\.configuration\.developerConfiguration\.featureGates/,
      );
      // The VM runs (powered on above): an insert could not reach it, so the BMC refuses it up front.
      const vmBefore = (await c.getJson(['vm', 'sample-vm'])).spec;
      const insert = () =>
        run('curl', [
          '-sS',
          '-u',
          'admin:change-me-now',
          '-H',
          'Content-Type: application/json',
          '-d',
          JSON.stringify({ Image: 'http://images.example/boot.iso', Inserted: true }),
          '-w',
          '\n%{http_code}',
          `${status.endpoints.redfish}/redfish/v1/Managers/BMC/VirtualMedia/Cd/Actions/VirtualMedia.InsertMedia`,
        ]);
      // The agent follows the condition: the slot says why before anyone tries.
      const media = `${status.endpoints.redfish}/redfish/v1/Managers/BMC/VirtualMedia/Cd`;
      const said = await waitFor(
        async () => {
          const r = await curl(media, 'admin', 'change-me-now');
          const m = JSON.parse(r.stdout.trim().split('\n').slice(0, -1).join('\n')).Oem?.KubeVirt?.Message;
          return typeof m === 'string' && m.startsWith('Media cannot be changed while this VM runs') && m;
        },
        { timeoutMs: 20_000, what: 'the slot saying media cannot change while the VM runs' },
      );
      assert.match(said, /HotplugVolumes feature gate on/);
      const refused = await insert();
      assert.equal(refused.stdout.trim().split('\n').at(-1), '400', refused.stdout);
      const body = JSON.parse(refused.stdout.trim().split('\n').slice(0, -1).join('\n'));
      assert.match(
        JSON.stringify(body.error),
        /does not hot-plug images into a running VM.*HotplugVolumes feature gate on.*Power the VM off/,
      );
      assert.deepEqual((await c.getJson(['vm', 'sample-vm'])).spec, vmBefore, 'the VM is unchanged');
      assert.equal((await c.getJson(['datavolumes'])).items.length, 0, 'no DataVolume was created');
      assert.deepEqual(await agentPod(), podsBefore, 'the agent followed the change without a restart');
    } finally {
      await gates([]);
    }
    await waitFor(async () => (await hotplug())?.status === 'True', {
      timeoutMs: 30_000,
      what: 'True again',
    });
  });

  test('a Redfish event subscription is kept in the cluster and survives an agent restart', async () => {
    const subscriptions = `${status.endpoints.redfish}/redfish/v1/EventService/Subscriptions`;
    const body = JSON.stringify({
      // A management-network address (documentation range): loopback is refused by default.
      Destination: 'http://192.0.2.1:9/events',
      Context: 'install-test',
      Protocol: 'Redfish',
      HttpHeaders: [{ Authorization: 'Bearer s3cret-header' }],
    });
    const post = await run('curl', [
      '-sS',
      '-u',
      'admin:change-me-now',
      '-H',
      'Content-Type: application/json',
      '-d',
      body,
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--max-time',
      '10',
      subscriptions,
    ]);
    assert.equal(post.stdout.trim(), '201', post.stderr);
    // The agent's Role allows exactly this ConfigMap; the header value is stored but never shown.
    const cm = await waitFor(
      async () =>
        (await c.kubectl(['get', 'configmap', 'sample-vm-bmc-redfish-subscriptions', '-o', 'json'])).code ===
          0 && c.getJson(['configmap', 'sample-vm-bmc-redfish-subscriptions']),
      { timeoutMs: 20_000, intervalMs: 250, what: 'the subscriptions ConfigMap' },
    );
    assert.equal(cm.metadata.ownerReferences[0].kind, 'VirtualMachineBMC');
    assert.match(JSON.stringify(cm.data), /install-test/);
    const pod = (await c.getJson(['pods', '-l', 'bmc.kubevirt.io/placement=shared'])).items[0];
    await c.kubectlOk(['delete', 'pod', pod.metadata.name, '--wait=false']);
    // A new pod may listen on other host ports: follow the endpoints the controller reports.
    let redfish = '';
    const listed = await waitFor(
      async () => {
        const fresh = (await c.getJson(['vmbmc', 'sample-vm-bmc'])).status;
        if (fresh.conditions?.find((x: { type: string }) => x.type === 'Ready')?.status !== 'True')
          return false;
        redfish = fresh.endpoints.redfish;
        const r = await curl(`${redfish}/redfish/v1/EventService/Subscriptions`, 'admin', 'change-me-now');
        const cut = r.stdout.lastIndexOf('\n');
        if (r.stdout.slice(cut + 1).trim() !== '200') return false;
        const members = JSON.parse(r.stdout.slice(0, cut)).Members as Array<{ '@odata.id': string }>;
        return members.length === 1 && members[0]!['@odata.id'];
      },
      { timeoutMs: 90_000, intervalMs: 500, what: 'the subscription listed by the new agent pod' },
    );
    status = (await c.getJson(['vmbmc', 'sample-vm-bmc'])).status;
    const one = await curl(`${redfish}${listed}`, 'admin', 'change-me-now');
    assert.match(one.stdout, /"Context":\s*"install-test"/);
    assert.doesNotMatch(one.stdout, /s3cret-header/, 'HttpHeaders are write-only');
    const del = await run('curl', [
      '-sS',
      '-u',
      'admin:change-me-now',
      '-X',
      'DELETE',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--max-time',
      '10',
      `${redfish}${listed}`,
    ]);
    assert.match(del.stdout.trim(), /^20[04]$/);
  });

  test("the agent's own token (TokenRequest) is refused on other VMs, other Secrets and DataVolumes it did not create", async () => {
    await c.kubectlOk(
      ['apply', '-f', '-'],
      `${vmYaml('default', 'other-vm')}---\n${secretYaml('default', 'other-secret', 'x', 'y')}`,
    );
    await c.kubectlOk(
      ['apply', '-f', '-'],
      `apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata: {name: users-disk, namespace: default}
spec:
  source: {http: {url: "http://127.0.0.1:9/disk.img"}}
  storage: {resources: {requests: {storage: 1Gi}}}
`,
    );
    const asAgent = await kubectlAs(c, 'default', 'kubevirtbmc-agent');
    const agent = (...args: string[]) => asAgent(args);
    const forbidden = assertForbidden;
    // what it serves works
    const own = await agent('get', 'vm', 'sample-vm', '-o', 'name');
    assert.equal(own.stdout.trim(), 'virtualmachine.kubevirt.io/sample-vm', own.stderr);
    // writes to another VM, another Secret: refused by RBAC
    forbidden(
      await agent('patch', 'vm', 'other-vm', '--type=merge', '-p', '{"metadata":{"labels":{"x":"y"}}}'),
      'patching another VM',
    );
    forbidden(await agent('get', 'secret', 'other-secret'), 'reading another Secret');
    // a power action on another VM (PUT, as kubectl replace --raw sends it)
    const body = join(mkdtempSync(join(tmpdir(), 'agent-body-')), 'start.json');
    writeFileSync(body, '{}');
    forbidden(
      await agent(
        'replace',
        '--raw',
        '/apis/subresources.kubevirt.io/v1/namespaces/default/virtualmachines/other-vm/start',
        '-f',
        body,
      ),
      'starting another VM',
    );
    // a DataVolume the agent did not create: refused by the admission policy (the embedded cluster
    // stores policies but does not enforce them: docs/sim.md)
    if (c.sim.kind === 'real') {
      const del = await agent('delete', 'datavolume', 'users-disk', '--wait=false');
      forbidden(del, "deleting a user's DataVolume");
      assert.match(del.stderr, /may only change or delete the DataVolumes it created/);
      const forged = await asAgent(
        ['create', '-f', '-'],
        `apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata:
  name: forged
  namespace: default
  labels: {bmc.kubevirt.io/vm: sample-vm}
  annotations: {bmc.kubevirt.io/created-by: "system:serviceaccount:default:someone-else"}
spec:
  source: {http: {url: "http://127.0.0.1:9/disk.img"}}
  storage: {resources: {requests: {storage: 1Gi}}}
`,
      );
      forbidden(forged, 'creating a DataVolume stamped with another name');
    }
    assert.ok(await c.tryGet(['datavolume', 'users-disk']), "the user's DataVolume is still there");
  });

  test("the controller's own token may label a Secret and change nothing else of it", async () => {
    // the admission policy is enforced by kube-apiserver; the embedded cluster stores policies
    // without enforcing them (docs/sim.md)
    if (c.sim.kind !== 'real') return;
    const controller = await kubectlAs(c, 'kubevirtbmc-system', 'kubevirtbmc-controller');
    const asController = (...args: string[]) => controller(['-n', 'default', ...args]);
    await c.kubectlOk(['apply', '-f', '-'], secretYaml('default', 'unrelated-secret', 'app', 'app-pw'));
    const label = await asController(
      'label',
      'secret',
      'unrelated-secret',
      'bmc.kubevirt.io/bmc-secret=true',
    );
    assert.equal(label.code, 0, label.stderr);
    const unlabel = await asController('label', 'secret', 'unrelated-secret', 'bmc.kubevirt.io/bmc-secret-');
    assert.equal(unlabel.code, 0, unlabel.stderr);
    for (const [what, args] of [
      [
        'its data',
        ['patch', 'secret', 'unrelated-secret', '--type=merge', '-p', '{"stringData":{"password":"stolen"}}'],
      ],
      ['another label', ['label', 'secret', 'unrelated-secret', 'app=changed']],
      ['an annotation', ['annotate', 'secret', 'unrelated-secret', 'x=y']],
    ] as const) {
      const r = await asController(...args);
      assert.notEqual(r.code, 0, `the controller changed ${what}`);
      assert.match(r.stderr, /may only add or remove the bmc.kubevirt.io\/bmc-secret label/, r.stderr);
    }
    const secret = await c.getJson(['-n', 'default', 'secret', 'unrelated-secret']);
    assert.equal(Buffer.from(secret.data.password, 'base64').toString(), 'app-pw');
    assert.equal(secret.metadata.labels?.app, undefined);
  });

  test('a rotated password is accepted and the old one refused, without an agent restart', async () => {
    const pod = (await c.getJson(['pods', '-l', 'bmc.kubevirt.io/placement=shared'])).items[0];
    // How many times it was said: a repeat is counted on the Event already recorded (`count`).
    const loaded = async () =>
      (await c.getJson(['events'])).items
        .filter(
          (e: { involvedObject: { name: string }; reason: string }) =>
            e.involvedObject.name === 'sample-vm-bmc' && e.reason === 'CredentialsLoaded',
        )
        .reduce((n: number, e: { count?: number }) => n + (e.count ?? 1), 0);
    const before = await loaded();
    await c.kubectlOk(
      ['apply', '-f', '-'],
      secretYaml('default', 'sample-vm-bmc-auth', 'admin', 'rotated-pw-2'),
    );
    // The agent says when it applied the change (an Event); no guessing with failed logins, which
    // the BMC rate-limits.
    await waitFor(async () => (await loaded()) > before, {
      timeoutMs: 30_000,
      intervalMs: 250,
      what: 'CredentialsLoaded Event',
    });
    await waitFor(
      async () =>
        (await ipmitool(status.endpoints.ipmi, 'admin', 'rotated-pw-2', 'power', 'status')).code === 0,
      {
        timeoutMs: 20_000,
        intervalMs: 1500,
        what: 'the new password accepted',
      },
    );
    const old = await ipmitool(status.endpoints.ipmi, 'admin', 'change-me-now', 'power', 'status');
    assert.notEqual(old.code, 0);
    const rf = await curl(`${status.endpoints.redfish}/redfish/v1/Systems/1`, 'admin', 'change-me-now');
    assert.equal(rf.stdout.trim().split('\n').at(-1), '401');
    const now = (await c.getJson(['pods', '-l', 'bmc.kubevirt.io/placement=shared'])).items;
    assert.deepEqual(
      now.map((p: { metadata: { uid: string } }) => p.metadata.uid),
      [pod.metadata.uid],
      'the same agent pod',
    );
    assert.equal(now[0].status.containerStatuses[0].restartCount, 0);
  });

  test('a Secret over the IPMI limits is a clear condition, not a crash loop', async () => {
    await c.kubectlOk(
      ['apply', '-f', '-'],
      secretYaml('default', 'sample-vm-bmc-auth', 'admin', 'x'.repeat(24)),
    );
    // Redfish serves such a password, IPMI refuses it (docs/controller.md).
    const cond = await c.waitCondition('default', 'sample-vm-bmc', 'SecretAvailable', 'False');
    assert.equal(cond.reason, 'IPMICredentialsTooLong');
    assert.match(cond.message, /password is 24 bytes; IPMI allows at most 20/);
    const described = await c.kubectlOk(['describe', 'vmbmc', 'sample-vm-bmc']);
    assert.match(described, /IPMICredentialsTooLong/);
    await c.kubectlOk(
      ['apply', '-f', '-'],
      secretYaml('default', 'sample-vm-bmc-auth', 'admin', 'change-me-now'),
    );
    await c.kubectlOk(
      ['wait', '--for=condition=Ready', 'vmbmc/sample-vm-bmc', '--timeout=60s'],
      undefined,
      70_000,
    );
  });

  test('invalid VirtualMachineBMCs are refused with readable messages', async () => {
    const cases: Array<[string, RegExp]> = [
      [
        'apiVersion: bmc.kubevirt.io/v1beta1\nkind: VirtualMachineBMC\nmetadata: {name: bad1}\nspec:\n  virtualMachineRef: {name: vm1}\n',
        /authSecretRef: Required value/,
      ],
      [bmcYaml('default', 'bad2', 'vm1', 's', '  service: {type: Magic}\n'), /Unsupported value: "Magic"/],
      [bmcYaml('default', 'bad3', 'Not_A_Name', 's'), /virtualMachineRef\.name/],
      [
        bmcYaml('default', 'bad4', 'vm1', 's', '  ipmi: {enabled: false}\n  redfish: {enabled: false}\n'),
        /at least one protocol must be enabled/,
      ],
      [
        bmcYaml('default', 'bad5', 'vm1', 's', '  service: {ipmiNodePort: 30623}\n'),
        /need service type NodePort or LoadBalancer/,
      ],
    ];
    const accepted: string[] = [];
    for (const [yaml, re] of cases) {
      const r = await c.kubectl(['apply', '-f', '-'], yaml);
      if (r.code === 0) accepted.push(/name: (bad\d)/.exec(yaml)![1]!);
      else assert.match(r.stderr, re);
    }
    // Anything wrongly accepted is removed again so the following tests do not depend on this one.
    if (accepted.length) await c.kubectl(['delete', 'vmbmc', ...accepted, '--ignore-not-found']);
    assert.deepEqual(accepted, [], 'every invalid object refused');
    const list = await c.getJson(['vmbmc']);
    assert.deepEqual(
      list.items.map((i: { metadata: { name: string } }) => i.metadata.name),
      ['sample-vm-bmc'],
    );
  });

  test('drift in owned objects is corrected', async () => {
    await c.kubectlOk([
      'patch',
      'service',
      'vbmc-sample-vm-bmc',
      '--type=json',
      '-p',
      '[{"op":"replace","path":"/spec/ports/0/port","value":9999}]',
    ]);
    await c.kubectlOk([
      'patch',
      'role',
      'kubevirtbmc-agent',
      '--type=json',
      '-p',
      '[{"op":"replace","path":"/rules/0/resourceNames","value":["sample-vm","someone-elses-vm"]}]',
    ]);
    await waitFor(
      async () => {
        const svc = await c.getJson(['service', 'vbmc-sample-vm-bmc']);
        const role = await c.getJson(['role', 'kubevirtbmc-agent']);
        return (
          svc.spec.ports[0].port === 623 && JSON.stringify(role.rules[0].resourceNames) === '["sample-vm"]'
        );
      },
      { timeoutMs: 20_000, intervalMs: 250, what: 'Service and Role restored' },
    );
    await c.kubectlOk(['delete', 'rolebinding', 'kubevirtbmc-agent']);
    await waitFor(async () => (await c.tryGet(['rolebinding', 'kubevirtbmc-agent'])) !== null, {
      timeoutMs: 20_000,
      intervalMs: 250,
      what: 'RoleBinding recreated',
    });
  });

  test('VM deleted: reported and the agent scaled down; VM recreated: Ready again', async () => {
    await c.kubectlOk(['delete', 'vm', 'sample-vm', '--wait=true'], undefined, 60_000);
    const cond = await c.waitCondition('default', 'sample-vm-bmc', 'VirtualMachineAvailable', 'False');
    assert.match(cond.message, /default\/sample-vm not found/);
    await waitFor(async () => (await c.getJson(['deployment', 'kubevirtbmc-agent'])).spec.replicas === 0, {
      timeoutMs: 20_000,
      intervalMs: 250,
      what: 'agent scaled to 0',
    });
    await c.kubectlOk(['apply', '-f', '-'], vmYaml('default', 'sample-vm'));
    await c.kubectlOk(
      ['wait', '--for=condition=Ready', 'vmbmc/sample-vm-bmc', '--timeout=90s'],
      undefined,
      100_000,
    );
    const st = (await c.getJson(['vmbmc', 'sample-vm-bmc'])).status;
    const r = await ipmitool(st.endpoints.ipmi, 'admin', 'change-me-now', 'power', 'status');
    assert.equal(r.stdout.trim(), 'Chassis Power is off', r.stderr);
  });

  test('leader failover: deleting the leader pod hands the Lease over and reconciling goes on', async () => {
    const lease = await c.getJson(['-n', 'kubevirtbmc-system', 'lease', 'kubevirtbmc-controller']);
    const leader = lease.spec.holderIdentity as string;
    assert.ok(leader);
    assert.equal(lease.spec.leaseDurationSeconds, 15);
    assert.equal(lease.spec.leaseTransitions ?? 0, 0, 'one leader since the start, no flapping');
    const pods = (await c.getJson(['-n', 'kubevirtbmc-system', 'pods'])).items.map(
      (p: { metadata: { name: string } }) => p.metadata.name,
    );
    const leaders = [];
    for (const p of pods) {
      if ((await c.kubectlOk(['-n', 'kubevirtbmc-system', 'logs', p])).includes('"became leader"'))
        leaders.push(p);
    }
    assert.deepEqual(leaders, [leader], 'only the Lease holder ever led');
    await c.kubectlOk(['-n', 'kubevirtbmc-system', 'delete', 'pod', leader, '--wait=false']);
    const next = await waitFor(
      async () => {
        const l = await c.getJson(['-n', 'kubevirtbmc-system', 'lease', 'kubevirtbmc-controller']);
        return l.spec.holderIdentity && l.spec.holderIdentity !== leader
          ? (l.spec.holderIdentity as string)
          : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 300, what: 'a new leader' },
    );
    assert.notEqual(next, leader);
    const after = await c.getJson(['-n', 'kubevirtbmc-system', 'lease', 'kubevirtbmc-controller']);
    assert.equal(after.spec.leaseTransitions, 1);
    // The new leader serves a second BMC in the namespace.
    await c.kubectlOk(
      ['apply', '-f', '-'],
      vmYaml('default', 'vm2') +
        '---\n' +
        secretYaml('default', 'vm2-auth', 'root', 'pw-vm2') +
        '---\n' +
        bmcYaml('default', 'vm2-bmc', 'vm2', 'vm2-auth'),
    );
    await c.kubectlOk(
      ['wait', '--for=condition=Ready', 'vmbmc/vm2-bmc', '--timeout=90s'],
      undefined,
      100_000,
    );
    const s2 = (await c.getJson(['vmbmc', 'vm2-bmc'])).status;
    assert.notDeepEqual(s2.ports, status.ports, 'two BMCs in one namespace get distinct ports');
    const r = await ipmitool(s2.endpoints.ipmi, 'root', 'pw-vm2', 'power', 'status');
    assert.equal(r.stdout.trim(), 'Chassis Power is off', r.stderr);
  });

  test('deleting the BMCs removes everything the controller created', async () => {
    await c.kubectlOk(['delete', 'vmbmc', 'sample-vm-bmc', 'vm2-bmc'], undefined, 60_000);
    await waitFor(
      async () => {
        const left = await c.getJson([
          'deployment,service,serviceaccount,role,rolebinding,configmap',
          '-l',
          'app.kubernetes.io/managed-by=kubevirtbmc-controller',
        ]);
        return left.items.length === 0;
      },
      { timeoutMs: 30_000, intervalMs: 300, what: 'managed objects gone' },
    );
    assert.ok(await c.tryGet(['vm', 'sample-vm']), 'the VM itself is untouched');
  });
});
