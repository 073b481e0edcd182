// The simulated KubeVirt/CDI (kube-api-notes C2-C8, D15): run strategies, subresources with KubeVirt's
// exact codes and refusals, the serial console, DataVolumes, hotplug and RestartRequired.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { missingClients } from '../../../../test/support/clients.ts';
import { kubectl } from '../../../../test/support/sim-kubectl.ts';
import { SimHttp, vmManifest, simWait as waitFor } from '../../../../test/support/sim-kubevirt.ts';
import { type SimCluster, startSimCluster } from '../../src/embedded/index.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
type Obj = Record<string, any>;
const NS = 'default';
let cluster: SimCluster;
let http: SimHttp;

const VMS = `/apis/kubevirt.io/v1/namespaces/${NS}/virtualmachines`;
const DVS = `/apis/cdi.kubevirt.io/v1beta1/namespaces/${NS}/datavolumes`;

async function createVm(manifest: Obj): Promise<Obj> {
  const r = await http.req('POST', VMS, manifest);
  assert.equal(r.status, 201, r.text);
  return r.json;
}

/** Read, change, write back: again on 409, as the controllers write the VM's status meanwhile. */
async function updateVm(name: string, mutate: (vm: Obj) => void): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const vm = (await http.vm(NS, name)).json;
    mutate(vm);
    const r = await http.req('PUT', `${VMS}/${name}`, vm);
    if (r.status === 200) return;
    assert.ok(r.status === 409 && attempt < 20, `PUT of VM ${name}: ${r.status} ${r.text}`);
  }
}

async function vmStatus(name: string): Promise<Obj> {
  return (await http.vm(NS, name)).json.status ?? {};
}

async function waitPrintable(name: string, printable: string): Promise<Obj> {
  return waitFor(
    async () => {
      const s = await vmStatus(name);
      return s.printableStatus === printable ? s : undefined;
    },
    { what: `${name} ${printable}` },
  );
}

async function runningVmi(name: string): Promise<Obj> {
  return waitFor(
    async () => {
      const r = await http.vmi(NS, name);
      return r.status === 200 && r.json.status?.phase === 'Running' && !r.json.metadata.deletionTimestamp
        ? r.json
        : undefined;
    },
    { what: `${name} VMI Running` },
  );
}

async function noVmi(name: string): Promise<void> {
  await waitFor(async () => (await http.vmi(NS, name)).status === 404, { what: `${name} VMI gone` });
}

function refusal(r: { status: number; json: Obj }, code: number, message: string): void {
  assert.equal(r.status, code, JSON.stringify(r.json));
  assert.equal(r.json.kind, 'Status');
  assert.equal(r.json.apiVersion, 'v1');
  assert.equal(r.json.status, 'Failure');
  assert.equal(r.json.message, message);
  assert.equal(r.json.code, code);
}

const conflictVm = (name: string, msg: string) =>
  `Operation cannot be fulfilled on virtualmachine.kubevirt.io "${name}": ${msg}`;
const conflictVmi = (name: string, msg: string) =>
  `Operation cannot be fulfilled on virtualmachineinstance.kubevirt.io "${name}": ${msg}`;

before(async () => {
  cluster = await startSimCluster({ timing: 'fast' });
  http = new SimHttp(cluster);
});
after(async () => {
  await cluster?.stop();
});

describe('run strategies', () => {
  test('Always: starts at once; start is refused; restart replaces the VMI; stop sets Halted', async () => {
    await createVm(vmManifest('always', { runStrategy: 'Always' }));
    const first = await runningVmi('always');
    const st = await waitPrintable('always', 'Running');
    assert.equal(st.ready, true);
    assert.equal(st.created, true);
    assert.equal(st.runStrategy, 'Always');
    assert.equal(st.conditions.find((c: Obj) => c.type === 'Ready').status, 'True');
    assert.equal(first.metadata.ownerReferences[0].kind, 'VirtualMachine');
    assert.match(first.status.interfaces[0].mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    assert.match(first.status.interfaces[0].ipAddress, /^10\.244\.\d+\.\d+$/);
    assert.ok(first.status.guestOSInfo.id);
    assert.ok(first.status.launcherContainerImageVersion);
    assert.deepEqual(
      first.status.phaseTransitionTimestamps.map((p: Obj) => p.phase),
      ['Pending', 'Scheduling', 'Scheduled', 'Running'],
    );
    refusal(
      await http.sub('virtualmachines', NS, 'always', 'start'),
      409,
      conflictVm('always', 'VM is already running'),
    );
    const rs = await http.sub('virtualmachines', NS, 'always', 'restart');
    assert.equal(rs.status, 202);
    assert.equal(rs.text, '');
    const second = await waitFor(
      async () => {
        const v = await runningVmi('always');
        return v.metadata.uid !== first.metadata.uid ? v : undefined;
      },
      { what: 'new VMI after restart' },
    );
    assert.notEqual(second.metadata.uid, first.metadata.uid);
    await waitFor(async () => (await vmStatus('always')).stateChangeRequests === undefined, {
      what: 'requests consumed',
    });
    const stop = await http.sub('virtualmachines', NS, 'always', 'stop');
    assert.equal(stop.status, 202);
    await noVmi('always');
    // The VM's status follows the VMI's deletion in the controller's next sync.
    const vm = await waitFor(
      async () => {
        const v = (await http.vm(NS, 'always')).json;
        return v.status.conditions.find((c: Obj) => c.type === 'Ready')?.reason === 'VMINotExists'
          ? v
          : undefined;
      },
      { what: 'Ready reason VMINotExists' },
    );
    assert.equal(vm.spec.runStrategy, 'Halted');
    assert.equal(vm.status.printableStatus, 'Stopped');
    assert.equal(vm.status.conditions.find((c: Obj) => c.type === 'Ready').reason, 'VMINotExists');
  });

  test('Always with the VMI stopped: start is still refused by strategy; the guest powering off is restarted', async () => {
    await createVm(vmManifest('always2', { runStrategy: 'Always' }));
    const v1 = await runningVmi('always2');
    cluster.faults.guestExit(NS, 'always2', 'Succeeded');
    await waitFor(
      async () => {
        const v = await runningVmi('always2');
        return v.metadata.uid !== v1.metadata.uid;
      },
      { what: 'VMI recreated after guest poweroff' },
    );
  });

  test('Halted: nothing runs; stop and restart are refused; start flips to Always and runs', async () => {
    await createVm(vmManifest('halted', { runStrategy: 'Halted' }));
    await waitPrintable('halted', 'Stopped');
    assert.equal((await http.vmi(NS, 'halted')).status, 404);
    refusal(
      await http.sub('virtualmachines', NS, 'halted', 'stop'),
      409,
      conflictVm('halted', 'VM is not running'),
    );
    refusal(
      await http.sub('virtualmachines', NS, 'halted', 'restart'),
      409,
      conflictVm('halted', 'RunStategy Halted does not support manual restart requests'),
    );
    const s = await http.sub('virtualmachines', NS, 'halted', 'start');
    assert.equal(s.status, 202);
    assert.equal((await http.vm(NS, 'halted')).json.spec.runStrategy, 'Always');
    await runningVmi('halted');
    await waitPrintable('halted', 'Running');
  });

  test('Halted with start {paused: true}: the VM starts paused (Paused), via a status Start request', async () => {
    await createVm(vmManifest('pstart', { runStrategy: 'Halted' }));
    await waitPrintable('pstart', 'Stopped');
    assert.equal((await http.sub('virtualmachines', NS, 'pstart', 'start', { paused: true })).status, 202);
    await waitPrintable('pstart', 'Paused');
    const vm = (await http.vm(NS, 'pstart')).json;
    assert.equal(vm.spec.runStrategy, 'Always');
    assert.equal(vm.status.stateChangeRequests, undefined);
    assert.equal((await http.vmi(NS, 'pstart')).json.spec.startStrategy, 'Paused');
    assert.equal((await http.sub('virtualmachineinstances', NS, 'pstart', 'unpause')).status, 200);
    await waitPrintable('pstart', 'Running');
  });

  test('Manual: starts only on request; stop keeps the strategy; after the guest powers off, start makes a new VMI', async () => {
    await createVm(vmManifest('manual', { runStrategy: 'Manual' }));
    await waitPrintable('manual', 'Stopped');
    refusal(
      await http.sub('virtualmachines', NS, 'manual', 'stop'),
      409,
      conflictVm('manual', 'VM is not running'),
    );
    assert.equal((await http.sub('virtualmachines', NS, 'manual', 'start')).status, 202);
    const v1 = await runningVmi('manual');
    await waitFor(async () => (await vmStatus('manual')).stateChangeRequests === undefined, {
      what: 'Start consumed',
    });
    refusal(
      await http.sub('virtualmachines', NS, 'manual', 'start'),
      409,
      conflictVm('manual', 'VM is already running'),
    );
    assert.equal((await http.sub('virtualmachines', NS, 'manual', 'stop')).status, 202);
    await noVmi('manual');
    await waitPrintable('manual', 'Stopped');
    assert.equal((await http.vm(NS, 'manual')).json.spec.runStrategy, 'Manual');
    assert.equal((await http.sub('virtualmachines', NS, 'manual', 'start')).status, 202);
    const v2 = await runningVmi('manual');
    assert.notEqual(v2.metadata.uid, v1.metadata.uid);
    cluster.faults.guestExit(NS, 'manual', 'Succeeded');
    await waitFor(async () => (await http.vmi(NS, 'manual')).json.status?.phase === 'Succeeded', {
      what: 'VMI Succeeded',
    });
    await waitPrintable('manual', 'Stopped');
    assert.equal(
      (await http.vmi(NS, 'manual')).json.metadata.uid,
      v2.metadata.uid,
      'Manual leaves a final VMI alone',
    );
    assert.equal((await http.sub('virtualmachines', NS, 'manual', 'start')).status, 202);
    const v3 = await waitFor(
      async () => {
        const v = await runningVmi('manual');
        return v.metadata.uid !== v2.metadata.uid ? v : undefined;
      },
      { what: 'new VMI after start from final' },
    );
    assert.ok(v3);
  });

  test('RerunOnFailure: starts on creation, reruns after a crash, stays down after a clean shutdown', async () => {
    await createVm(vmManifest('rerun', { runStrategy: 'RerunOnFailure' }));
    const v1 = await runningVmi('rerun');
    cluster.faults.guestExit(NS, 'rerun', 'Failed');
    const v2 = await waitFor(
      async () => {
        const v = await runningVmi('rerun');
        return v.metadata.uid !== v1.metadata.uid ? v : undefined;
      },
      { what: 'rerun after failure' },
    );
    cluster.faults.guestExit(NS, 'rerun', 'Succeeded');
    await noVmi('rerun');
    await waitPrintable('rerun', 'Stopped');
    assert.equal((await http.vm(NS, 'rerun')).json.status.runStrategy, 'RerunOnFailure');
    assert.ok(v2);
    assert.equal((await http.sub('virtualmachines', NS, 'rerun', 'start')).status, 202);
    await runningVmi('rerun');
  });

  test('Once: runs once; a finished VMI is left in place; start and restart are refused', async () => {
    await createVm(vmManifest('once', { runStrategy: 'Once' }));
    await runningVmi('once');
    refusal(
      await http.sub('virtualmachines', NS, 'once', 'restart'),
      409,
      conflictVm('once', 'RunStategy Once does not support manual restart requests'),
    );
    cluster.faults.guestExit(NS, 'once', 'Succeeded');
    await waitFor(async () => (await http.vmi(NS, 'once')).json.status?.phase === 'Succeeded', {
      what: 'Succeeded',
    });
    await waitPrintable('once', 'Stopped');
    refusal(
      await http.sub('virtualmachines', NS, 'once', 'start'),
      409,
      conflictVm('once', 'Once does not support manual start requests'),
    );
    assert.equal((await http.vmi(NS, 'once')).json.status.phase, 'Succeeded');
  });

  test('legacy spec.running: true runs, stop sets running: false; running with runStrategy is rejected', async () => {
    await createVm(vmManifest('legacy', { running: true }));
    await runningVmi('legacy');
    assert.equal((await http.sub('virtualmachines', NS, 'legacy', 'stop')).status, 202);
    await noVmi('legacy');
    const vm = (await http.vm(NS, 'legacy')).json;
    assert.equal(vm.spec.running, false);
    assert.equal(vm.spec.runStrategy, undefined);
    const both = await http.req('POST', VMS, vmManifest('both', { running: true, runStrategy: 'Always' }));
    assert.equal(both.status, 422);
    assert.equal(
      both.json.message,
      'admission webhook "virtualmachine-validator.kubevirt.io" denied the request: spec.running: running and runstrategy are mutually exclusive',
    );
  });

  test('deleting a running VM stops its VMI first (VM finalizer), then both are gone', async () => {
    await createVm(vmManifest('bye', { runStrategy: 'Always' }));
    const v = await runningVmi('bye');
    assert.deepEqual((await http.vm(NS, 'bye')).json.metadata.finalizers, [
      'kubevirt.io/virtualMachineControllerFinalize',
    ]);
    assert.deepEqual(v.metadata.finalizers, ['kubevirt.io/foregroundDeleteVirtualMachine']);
    const d = await http.req('DELETE', `${VMS}/bye`);
    assert.equal(d.status, 200);
    assert.ok(d.json.metadata.deletionTimestamp, 'the VM waits for its controller');
    await noVmi('bye');
    await waitFor(async () => (await http.vm(NS, 'bye')).status === 404, { what: 'VM gone' });
    assert.match(cluster.consoleTranscript(NS, 'bye'), /Power down/);
  });

  test('start/stop/restart on a missing VM → 404; bad option bodies → 400', async () => {
    refusal(
      await http.sub('virtualmachines', NS, 'ghost', 'start'),
      404,
      'virtualmachine.kubevirt.io "ghost" not found',
    );
    refusal(
      await http.sub('virtualmachines', NS, 'ghost', 'stop'),
      404,
      'virtualmachine.kubevirt.io "ghost" not found',
    );
    refusal(
      await http.sub('virtualmachines', NS, 'always', 'restart', { gracePeriodSeconds: 30 }),
      400,
      'For force restart, only gracePeriod=0 is supported for now',
    );
    const bad = await http.req(
      'PUT',
      `/apis/subresources.kubevirt.io/v1/namespaces/${NS}/virtualmachines/always/start`,
      '{not json',
      'application/json',
    );
    assert.equal(bad.status, 400);
    assert.match(bad.json.message, /^Can not unmarshal Request body to struct, error: /);
    await createVm(vmManifest('norun', { runStrategy: 'Manual' }));
    await waitPrintable('norun', 'Stopped');
    refusal(
      await http.sub('virtualmachines', NS, 'norun', 'restart'),
      409,
      conflictVm('norun', 'VM is not running: Halted'),
    );
  });

  test('stop with gracePeriod patches the VMI grace period first; force restart sets it to 1', async () => {
    await createVm(vmManifest('grace', { runStrategy: 'Manual' }, { terminationGracePeriodSeconds: 120 }));
    assert.equal((await http.sub('virtualmachines', NS, 'grace', 'start')).status, 202);
    const v = await runningVmi('grace');
    assert.equal(v.spec.terminationGracePeriodSeconds, 120);
    assert.equal(
      (await http.sub('virtualmachines', NS, 'grace', 'restart', { gracePeriodSeconds: 0 })).status,
      202,
    );
    const v2 = await waitFor(
      async () => {
        const x = await runningVmi('grace');
        return x.metadata.uid !== v.metadata.uid ? x : undefined;
      },
      { what: 'restarted' },
    );
    assert.equal(v2.spec.terminationGracePeriodSeconds, 120, 'the new VMI has the template grace period');
    const before = cluster.stats.requests().length;
    assert.equal((await http.sub('virtualmachines', NS, 'grace', 'stop', { gracePeriod: 0 })).status, 202);
    assert.ok(cluster.stats.requests().length > before);
    await noVmi('grace');
  });
});

describe('VMI subresources', () => {
  test('pause/unpause/softreboot/reset: 200 with an empty body, and KubeVirt refusals', async () => {
    await createVm(vmManifest('subs', { runStrategy: 'Always' }));
    await runningVmi('subs');
    const info = await http.req(
      'GET',
      `/apis/subresources.kubevirt.io/v1/namespaces/${NS}/virtualmachineinstances/subs/guestosinfo`,
    );
    assert.equal(info.status, 200);
    assert.equal(info.json.os.id, 'fedora');
    const p = await http.sub('virtualmachineinstances', NS, 'subs', 'pause');
    assert.equal(p.status, 200);
    assert.equal(p.text, '');
    await waitPrintable('subs', 'Paused');
    const vm = (await http.vm(NS, 'subs')).json;
    assert.equal(vm.status.conditions.find((c: Obj) => c.type === 'Paused').status, 'True');
    refusal(
      await http.sub('virtualmachineinstances', NS, 'subs', 'pause'),
      409,
      conflictVmi('subs', 'VMI is already paused'),
    );
    refusal(
      await http.sub('virtualmachineinstances', NS, 'subs', 'softreboot'),
      409,
      conflictVmi('subs', 'VMI is paused'),
    );
    assert.equal((await http.sub('virtualmachineinstances', NS, 'subs', 'unpause')).status, 200);
    await waitPrintable('subs', 'Running');
    refusal(
      await http.sub('virtualmachineinstances', NS, 'subs', 'unpause'),
      409,
      conflictVmi('subs', 'VMI is not paused'),
    );
    const sr = await http.sub('virtualmachineinstances', NS, 'subs', 'softreboot');
    assert.equal(sr.status, 200);
    assert.equal(sr.text, '');
    const rs = await http.sub('virtualmachineinstances', NS, 'subs', 'reset');
    assert.equal(rs.status, 200);
    await waitFor(() => cluster.consoleTranscript(NS, 'subs').includes('hard reset'), {
      what: 'reset in transcript',
    });
    assert.match(cluster.consoleTranscript(NS, 'subs'), /reboot: Restarting system/);
    refusal(
      await http.sub('virtualmachineinstances', NS, 'nothere', 'pause'),
      404,
      'virtualmachineinstance.kubevirt.io "nothere" not found',
    );
    await http.sub('virtualmachines', NS, 'subs', 'stop');
    await noVmi('subs');
  });

  test('on a finished VMI: pause/softreboot 409 "VM is not running", unpause "VMI is not running", reset 500, console 400/409', async () => {
    await createVm(vmManifest('done', { runStrategy: 'Once' }));
    await runningVmi('done');
    cluster.faults.guestExit(NS, 'done', 'Succeeded');
    await waitFor(async () => (await http.vmi(NS, 'done')).json.status?.phase === 'Succeeded', {
      what: 'Succeeded',
    });
    refusal(
      await http.sub('virtualmachineinstances', NS, 'done', 'pause'),
      409,
      conflictVmi('done', 'VM is not running'),
    );
    refusal(
      await http.sub('virtualmachineinstances', NS, 'done', 'softreboot'),
      409,
      conflictVmi('done', 'VM is not running'),
    );
    refusal(
      await http.sub('virtualmachineinstances', NS, 'done', 'unpause'),
      409,
      conflictVmi('done', 'VMI is not running'),
    );
    const reset = await http.sub('virtualmachineinstances', NS, 'done', 'reset');
    assert.equal(reset.status, 500);
    assert.match(reset.json.message, /Failed to reset non-running VMI with phase Succeeded/);
    const c = await http.console(NS, 'done');
    assert.ok('status' in c);
    assert.equal(c.status, 400);
    assert.equal(JSON.parse(c.body).message, 'VMI is not running');
    await createVm(vmManifest('crashed', { runStrategy: 'Once' }));
    await runningVmi('crashed');
    cluster.faults.guestExit(NS, 'crashed', 'Failed');
    await waitFor(async () => (await http.vmi(NS, 'crashed')).json.status?.phase === 'Failed', {
      what: 'Failed',
    });
    const c2 = await http.console(NS, 'crashed');
    assert.ok('status' in c2);
    assert.equal(c2.status, 409);
    assert.equal(JSON.parse(c2.body).message, conflictVmi('crashed', 'VMI is in failed status'));
    const c3 = await http.console(NS, 'nothere');
    assert.ok('status' in c3);
    assert.equal(c3.status, 404);
  });
});

describe('serial console', () => {
  test('101 with plain.kubevirt.io; UEFI boot from the CD-ROM first in bootOrder; login prompt echoes; reboot and power-off show', async () => {
    const dv = await http.req('POST', DVS, {
      apiVersion: 'cdi.kubevirt.io/v1beta1',
      kind: 'DataVolume',
      metadata: { name: 'iso' },
      spec: {
        source: { http: { url: 'http://images.example.com/install.iso' } },
        storage: { resources: { requests: { storage: '1Gi' } } },
      },
    });
    assert.equal(dv.status, 201);
    await createVm(
      vmManifest(
        'con',
        { runStrategy: 'Manual' },
        {
          domain: {
            firmware: { bootloader: { efi: { secureBoot: false } } },
            devices: {
              disks: [
                { name: 'rootdisk', disk: { bus: 'virtio' }, bootOrder: 2 },
                { name: 'cdrom', cdrom: { bus: 'sata' }, bootOrder: 1 },
              ],
              interfaces: [{ name: 'default', masquerade: {}, bootOrder: 3 }],
            },
          },
          volumes: [
            { name: 'rootdisk', containerDisk: { image: 'quay.io/containerdisks/fedora:41' } },
            { name: 'cdrom', dataVolume: { name: 'iso' } },
          ],
        },
      ),
    );
    assert.equal((await http.sub('virtualmachines', NS, 'con', 'start')).status, 202);
    await runningVmi('con');
    const c = await http.console(NS, 'con');
    assert.ok('ws' in c, JSON.stringify(c));
    assert.equal(c.protocol, 'plain.kubevirt.io');
    // The boot went by before the connection (virt-handler replays nothing): it is in the serial log
    // (the guest-console-log container's part), and Enter brings the login prompt back.
    await waitFor(() => cluster.consoleTranscript(NS, 'con').includes('login: '), { what: 'booted' });
    const out = cluster.consoleTranscript(NS, 'con');
    assert.match(out, /Firmware mode: UEFI/);
    assert.match(out, /Booting from CD-ROM 'cdrom' \(image http:\/\/images\.example\.com\/install\.iso\)/);
    c.ws.send(Buffer.from('\r'));
    await waitFor(() => c.output().includes('con login: '), { what: 'login prompt' });
    c.ws.send(Buffer.from('root\r'));
    await waitFor(() => c.output().includes('Password: '), { what: 'password prompt' });
    assert.match(c.output(), /login: root\r\n/);
    c.ws.send(Buffer.from('secret\r'));
    await waitFor(() => c.output().includes('[root@con ~]$ '), { what: 'shell prompt' });
    assert.doesNotMatch(c.output(), /secret/);
    c.ws.send(Buffer.from('hostname\r'));
    await waitFor(() => /hostname\r\ncon\r\n/.test(c.output()), { what: 'command echo and output' });
    assert.equal((await http.sub('virtualmachineinstances', NS, 'con', 'softreboot')).status, 200);
    await waitFor(() => c.output().includes('reboot: Restarting system'), { what: 'reboot in transcript' });
    const closed = new Promise<number>((r) => c.ws.on('close', (code) => r(code)));
    assert.equal((await http.sub('virtualmachines', NS, 'con', 'stop')).status, 202);
    assert.equal(await closed, 1000);
    assert.match(c.output(), /Power down/);
  });

  test('BIOS firmware; PXE boot from the network interface when it comes first; no bootable device → firmware setup', async () => {
    await createVm(
      vmManifest(
        'pxe',
        { runStrategy: 'Always' },
        {
          domain: {
            devices: {
              disks: [{ name: 'rootdisk', disk: { bus: 'virtio' }, bootOrder: 2 }],
              interfaces: [
                { name: 'default', masquerade: {}, bootOrder: 1, macAddress: '02:00:00:00:00:01' },
              ],
            },
          },
        },
      ),
    );
    await runningVmi('pxe');
    await waitFor(() => cluster.consoleTranscript(NS, 'pxe').includes('login: '), { what: 'booted' });
    const t = cluster.consoleTranscript(NS, 'pxe');
    assert.match(t, /Firmware mode: BIOS/);
    assert.match(t, /Booting from network \(PXE\) on interface 'default' \(MAC 02:00:00:00:00:01\)/);
    await createVm(
      vmManifest(
        'empty',
        { runStrategy: 'Always' },
        {
          domain: {
            firmware: { bootloader: { efi: {} } },
            features: { smm: { enabled: true } },
            devices: { disks: [{ name: 'cdrom', cdrom: { bus: 'sata' } }] },
          },
          volumes: [],
        },
      ),
    );
    await runningVmi('empty');
    await waitFor(() => cluster.consoleTranscript(NS, 'empty').includes('firmware setup'), {
      what: 'firmware setup',
    });
    assert.match(cluster.consoleTranscript(NS, 'empty'), /Secure Boot enabled/);
    assert.match(cluster.consoleTranscript(NS, 'empty'), /No bootable device found/);
  });
});

describe('CDI DataVolumes and hotplug', () => {
  test('an http import goes ImportScheduled → ImportInProgress (N.NN%) → Succeeded; host "invalid" is retried (restartCount)', async () => {
    const phases: string[] = [];
    const progress: string[] = [];
    const ac = new AbortController();
    const watching = (async () => {
      const res = await fetch(`${cluster.url}${DVS}?watch=true&fieldSelector=metadata.name%3Dimg`, {
        headers: { Authorization: `Bearer ${http.token}` },
        signal: ac.signal,
      });
      const reader = res.body!.getReader();
      let buf = '';
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          buf += Buffer.from(value).toString();
          for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
            const ev = JSON.parse(buf.slice(0, i));
            buf = buf.slice(i + 1);
            const s = ev.object.status ?? {};
            if (s.phase && phases.at(-1) !== s.phase) phases.push(s.phase);
            if (s.progress) progress.push(s.progress);
          }
        }
      } catch {
        // aborted
      }
    })();
    await new Promise((r) => setTimeout(r, 20));
    await http.req('POST', DVS, {
      apiVersion: 'cdi.kubevirt.io/v1beta1',
      kind: 'DataVolume',
      metadata: { name: 'img' },
      spec: { source: { http: { url: 'https://example.com/disk.qcow2' } }, storage: {} },
    });
    await waitFor(() => phases.includes('Succeeded'), { what: 'import done' });
    ac.abort();
    await watching;
    assert.deepEqual(phases, ['Pending', 'ImportScheduled', 'ImportInProgress', 'Succeeded']);
    assert.ok(
      progress.some((p) => /^\d{1,2}\.\d\d%$/.test(p)),
      progress.join(' '),
    );
    assert.equal(progress.at(-1), '100.0%');
    const pvc = await http.req('GET', `/api/v1/namespaces/${NS}/persistentvolumeclaims/img`);
    assert.equal(pvc.json.status.phase, 'Bound');
    await http.req('POST', DVS, {
      apiVersion: 'cdi.kubevirt.io/v1beta1',
      kind: 'DataVolume',
      metadata: { name: 'bad' },
      spec: { source: { http: { url: 'http://mirror.invalid/x.iso' } }, storage: {} },
    });
    // CDI retries import errors: the phase stays ImportInProgress, restartCount rises
    await waitFor(async () => ((await http.req('GET', `${DVS}/bad`)).json.status?.restartCount ?? 0) >= 1, {
      what: 'an import error retried',
    });
    const bad = (await http.req('GET', `${DVS}/bad`)).json;
    assert.equal(bad.status.phase, 'ImportInProgress');
    assert.equal(bad.status.conditions.find((c: { type: string }) => c.type === 'Running').reason, 'Error');
  });

  test('a VM referencing a not-yet-ready DataVolume waits (Provisioning) and starts once it is ready; a failed one → DataVolumeError', async () => {
    const seen = new Set<string>();
    const slow = await startSimCluster({ timing: 'realistic' });
    try {
      const h = new SimHttp(slow);
      await h.req('POST', DVS, {
        apiVersion: 'cdi.kubevirt.io/v1beta1',
        kind: 'DataVolume',
        metadata: { name: 'root' },
        spec: { source: { http: { url: 'http://example.com/root.img' } }, storage: {} },
      });
      await h.req(
        'POST',
        VMS,
        vmManifest(
          'dvvm',
          { runStrategy: 'Always' },
          { volumes: [{ name: 'rootdisk', dataVolume: { name: 'root' } }] },
        ),
      );
      await waitFor(
        async () => {
          const vm = (await h.vm(NS, 'dvvm')).json;
          if (vm.status?.printableStatus) seen.add(vm.status.printableStatus);
          const dv = (await h.req('GET', `${DVS}/root`)).json;
          if (dv.status?.phase !== 'Succeeded')
            assert.equal((await h.vmi(NS, 'dvvm')).status, 404, 'no VMI before the DataVolume is ready');
          return vm.status?.printableStatus === 'Running';
        },
        { what: 'VM running after import', timeoutMs: 20_000, intervalMs: 50 },
      );
      assert.ok(seen.has('Provisioning'), [...seen].join(','));
    } finally {
      await slow.stop();
    }
    await http.req('POST', DVS, {
      apiVersion: 'cdi.kubevirt.io/v1beta1',
      kind: 'DataVolume',
      metadata: { name: 'broken' },
      spec: { source: { http: { url: 'http://invalid/root.img' } }, storage: {} },
    });
    await createVm(
      vmManifest(
        'dverr',
        { runStrategy: 'Always' },
        { volumes: [{ name: 'rootdisk', dataVolume: { name: 'broken' } }] },
      ),
    );
    await waitPrintable('dverr', 'DataVolumeError');
    assert.equal((await http.vmi(NS, 'dverr')).status, 404);
  });

  test('hotplug (DeclarativeHotplugVolumes): a DataVolume in an empty CD-ROM of a running VM attaches without RestartRequired; a boot order change sets it until restart', async () => {
    await http.req('POST', DVS, {
      apiVersion: 'cdi.kubevirt.io/v1beta1',
      kind: 'DataVolume',
      metadata: { name: 'media' },
      spec: { source: { http: { url: 'http://images.example.com/media.iso' } }, storage: {} },
    });
    await createVm(
      vmManifest(
        'hp',
        { runStrategy: 'Always' },
        {
          domain: {
            devices: {
              disks: [
                { name: 'rootdisk', disk: { bus: 'virtio' }, bootOrder: 1 },
                { name: 'cdrom', cdrom: { bus: 'sata' } },
              ],
            },
          },
        },
      ),
    );
    const before = await runningVmi('hp');
    await updateVm('hp', (vm) =>
      vm.spec.template.spec.volumes.push({
        name: 'cdrom',
        dataVolume: { name: 'media', hotpluggable: true },
      }),
    );
    const attached = await waitFor(
      async () => {
        const v = (await http.vmi(NS, 'hp')).json;
        const s = (v.status?.volumeStatus ?? []).find((x: Obj) => x.name === 'cdrom');
        return s?.phase === 'Ready' ? v : undefined;
      },
      { what: 'cdrom attached' },
    );
    assert.equal(attached.metadata.uid, before.metadata.uid, 'same VMI: a live change');
    const vs = attached.status.volumeStatus.find((x: Obj) => x.name === 'cdrom');
    assert.match(vs.hotplugVolume.attachPodName, /^hp-volume-/);
    assert.equal(
      (await vmStatus('hp')).conditions.some((c: Obj) => c.type === 'RestartRequired'),
      false,
    );
    // eject: the volume goes, the disk stays
    await updateVm('hp', (vm) => {
      vm.spec.template.spec.volumes = vm.spec.template.spec.volumes.filter((v: Obj) => v.name !== 'cdrom');
    });
    await waitFor(
      async () =>
        !((await http.vmi(NS, 'hp')).json.status?.volumeStatus ?? []).some((x: Obj) => x.name === 'cdrom'),
      { what: 'ejected' },
    );
    assert.equal(
      (await vmStatus('hp')).conditions.some((c: Obj) => c.type === 'RestartRequired'),
      false,
    );
    // boot order change → RestartRequired
    const patch = await http.req(
      'PATCH',
      `${VMS}/hp`,
      [{ op: 'add', path: '/spec/template/spec/domain/devices/disks/1/bootOrder', value: 2 }],
      'application/json-patch+json',
    );
    assert.equal(patch.status, 200);
    const rr = await waitFor(
      async () => (await vmStatus('hp')).conditions.find((c: Obj) => c.type === 'RestartRequired'),
      { what: 'RestartRequired' },
    );
    assert.equal(rr.status, 'True');
    assert.equal(rr.message, 'a non-live-updatable field was changed in the template spec');
    assert.equal((await http.sub('virtualmachines', NS, 'hp', 'restart')).status, 202);
    await waitFor(
      async () => {
        const v = await runningVmi('hp');
        return (
          v.metadata.uid !== before.metadata.uid &&
          !(await vmStatus('hp')).conditions.some((c: Obj) => c.type === 'RestartRequired')
        );
      },
      { what: 'RestartRequired cleared by restart' },
    );
  });

  test('addvolume/removevolume edit the VM spec (hotpluggable) and the running VMI follows', async () => {
    await http.req('POST', DVS, {
      apiVersion: 'cdi.kubevirt.io/v1beta1',
      kind: 'DataVolume',
      metadata: { name: 'extra' },
      spec: { source: { blank: {} }, storage: {} },
    });
    await createVm(vmManifest('addv', { runStrategy: 'Always' }));
    const vmi = await runningVmi('addv');
    refusal(
      await http.sub('virtualmachines', NS, 'addv', 'addvolume', { disk: { disk: { bus: 'scsi' } } }),
      400,
      'AddVolumeOptions requires name to be set',
    );
    const add = await http.sub('virtualmachines', NS, 'addv', 'addvolume', {
      name: 'extra',
      disk: { disk: { bus: 'scsi' } },
      volumeSource: { dataVolume: { name: 'extra' } },
    });
    assert.equal(add.status, 202);
    const spec = (await http.vm(NS, 'addv')).json.spec.template.spec;
    assert.deepEqual(
      spec.volumes.find((v: Obj) => v.name === 'extra'),
      { name: 'extra', dataVolume: { name: 'extra', hotpluggable: true } },
    );
    assert.ok(spec.domain.devices.disks.some((d: Obj) => d.name === 'extra'));
    refusal(
      await http.sub('virtualmachines', NS, 'addv', 'addvolume', {
        name: 'extra',
        disk: { disk: {} },
        volumeSource: { dataVolume: { name: 'extra' } },
      }),
      409,
      conflictVm('addv', 'Unable to add volume [extra] because volume with that name already exists'),
    );
    await waitFor(
      async () =>
        ((await http.vmi(NS, 'addv')).json.status?.volumeStatus ?? []).some(
          (v: Obj) => v.name === 'extra' && v.phase === 'Ready',
        ),
      { what: 'attached' },
    );
    assert.equal((await http.vmi(NS, 'addv')).json.metadata.uid, vmi.metadata.uid);
    assert.equal(
      (await http.sub('virtualmachines', NS, 'addv', 'removevolume', { name: 'extra' })).status,
      202,
    );
    await waitFor(
      async () =>
        !((await http.vmi(NS, 'addv')).json.status?.volumeStatus ?? []).some((v: Obj) => v.name === 'extra'),
      { what: 'detached' },
    );
    refusal(
      await http.sub('virtualmachines', NS, 'addv', 'removevolume', { name: 'rootdisk' }),
      409,
      conflictVm('addv', 'Unable to remove volume [rootdisk] because it is not hotpluggable'),
    );
  });

  test('boot order webhook checks', async () => {
    const dup = await http.req(
      'POST',
      VMS,
      vmManifest(
        'dupboot',
        { runStrategy: 'Halted' },
        {
          domain: {
            devices: {
              disks: [{ name: 'rootdisk', disk: {}, bootOrder: 1 }],
              interfaces: [{ name: 'default', masquerade: {}, bootOrder: 1 }],
            },
          },
        },
      ),
    );
    assert.equal(dup.status, 422);
    assert.match(
      dup.json.message,
      /Boot order for spec\.template\.spec\.domain\.devices\.interfaces\[0\]\.bootOrder already set for a different device\./,
    );
  });
});

describe('kubectl with KubeVirt', { skip: missingClients('kubectl') }, () => {
  test('kubectl apply a VM, get vm shows STATUS Running and READY True, wait --for=condition=Ready', async () => {
    const yaml = JSON.stringify(vmManifest('kvm', { runStrategy: 'Always' }));
    const a = await kubectl(cluster.kubeconfigPath, ['apply', '-f', '-'], { input: yaml });
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /virtualmachine.kubevirt.io\/kvm created/);
    const w = await kubectl(cluster.kubeconfigPath, [
      'wait',
      '--for=condition=Ready',
      'vm/kvm',
      '--timeout=20s',
    ]);
    assert.equal(w.code, 0, w.stderr);
    const g = await kubectl(cluster.kubeconfigPath, ['get', 'vm', 'kvm']);
    assert.match(g.stdout, /^NAME\s+AGE\s+STATUS\s+READY\n/);
    assert.match(g.stdout, /\nkvm\s+\S+\s+Running\s+True\n/);
    const vmi = await kubectl(cluster.kubeconfigPath, ['get', 'vmi', 'kvm', '-o', 'wide']);
    assert.match(vmi.stdout, /Running\s+10\.244\.\d+\.\d+\s+sim-node-1\s+True/);
  });
});
