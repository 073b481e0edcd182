// Instance types and preferences in the fake KubeVirt, as KubeVirt v1.9.0 applies them: into the VMI
// when virt-controller creates it, never into the VM's template; stored in ControllerRevisions that
// the VM's status names; served expanded by virt-api's `expand-spec`. On the real control plane when
// it is built (test/support/cluster.ts), else on the embedded cluster.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startCluster, type TestCluster } from '../../../../test/support/cluster.ts';
import {
  createClusterInstancetype,
  createClusterPreference,
  createPreference,
  typedVmManifest,
  UEFI_SECURE_PREFERENCE,
} from '../../../../test/support/instancetypes.ts';
import { KubeHttp } from '../../../../test/support/kube-http.ts';
import { NAMESPACE, uniqueName } from '../../../../test/support/kubevirt-fixtures.ts';
import { waitFor } from '../../../../test/support/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
type Obj = Record<string, any>;

const VMS = `/apis/kubevirt.io/v1/namespaces/${NAMESPACE}/virtualmachines`;
const VMIS = `/apis/kubevirt.io/v1/namespaces/${NAMESPACE}/virtualmachineinstances`;
const REVISIONS = `/apis/apps/v1/namespaces/${NAMESPACE}/controllerrevisions`;
const WAIT = { timeoutMs: 20_000, intervalMs: 50 };

describe('fake KubeVirt: instance types and preferences', () => {
  let cluster: TestCluster;
  let http: KubeHttp;

  before(async () => {
    cluster = await startCluster({ timing: 'fast' });
    http = new KubeHttp(cluster.kubeconfigPath);
  });
  after(async () => {
    http?.close();
    await cluster?.stop();
  });

  const getVm = async (name: string): Promise<Obj> => (await http.req('GET', `${VMS}/${name}`)).json;
  const getVmi = async (name: string): Promise<Obj | undefined> => {
    const r = await http.req('GET', `${VMIS}/${name}`);
    return r.status === 200 ? r.json : undefined;
  };

  test('applied to the VMI, recorded in ControllerRevisions; the VM template stays as written', async () => {
    const pref = await createClusterPreference(http, uniqueName('uefi-secure'), UEFI_SECURE_PREFERENCE);
    const it = await createClusterInstancetype(http, uniqueName('u1-medium'), 2, '2Gi');
    const name = uniqueName('typed');
    const manifest = typedVmManifest(name, {
      runStrategy: 'Always',
      preference: { name: pref.metadata.name },
      instancetype: { name: it.metadata.name },
    });
    const created = await http.req('POST', VMS, manifest);
    assert.equal(created.status, 200, created.text);

    const vmi = await waitFor(
      async () => {
        const v = await getVmi(name);
        return v?.status?.phase === 'Running' ? v : undefined;
      },
      { ...WAIT, what: 'the VMI running' },
    );
    const domain = vmi.spec.domain;
    assert.deepEqual(domain.firmware.bootloader, { efi: { secureBoot: true } });
    assert.deepEqual(domain.features.smm, {});
    assert.equal(domain.machine.type, 'pc-q35-rhel9.6.0');
    assert.deepEqual(
      { sockets: domain.cpu.sockets, cores: domain.cpu.cores, threads: domain.cpu.threads },
      { sockets: 2, cores: 1, threads: 1 },
    );
    assert.equal(domain.memory.guest, '2Gi');
    assert.equal(vmi.metadata.annotations['kubevirt.io/cluster-preference-name'], pref.metadata.name);
    assert.equal(vmi.metadata.annotations['kubevirt.io/cluster-instancetype-name'], it.metadata.name);

    const vm = await getVm(name);
    assert.deepEqual(
      vm.spec.template.spec,
      manifest.spec?.template?.spec,
      'the template is not expanded (no firmware, CPU or memory written into it)',
    );
    const prefRevision = `${name}-${pref.metadata.name}-v1beta1-${pref.metadata.uid}-${pref.metadata.generation}`;
    assert.deepEqual(vm.status.preferenceRef, {
      name: pref.metadata.name,
      controllerRevisionRef: { name: prefRevision },
    });
    assert.equal(vm.status.instancetypeRef.name, it.metadata.name);
    assert.ok(
      !(vm.status.conditions ?? []).some((c: Obj) => c.type === 'RestartRequired'),
      'an expanded VMI is not a template change',
    );
    const rev = await http.req('GET', `${REVISIONS}/${prefRevision}`);
    assert.equal(rev.status, 200, rev.text);
    assert.deepEqual(rev.json.data.spec, UEFI_SECURE_PREFERENCE);
    assert.equal(rev.json.data.kind, 'VirtualMachineClusterPreference');
    assert.equal(rev.json.metadata.ownerReferences[0].uid, vm.metadata.uid);
    assert.equal(rev.json.metadata.labels['instancetype.kubevirt.io/object-name'], pref.metadata.name);

    await waitFor(() => /Firmware mode: UEFI/.test(cluster.consoleTranscript(NAMESPACE, name)), {
      ...WAIT,
      what: 'the guest booting UEFI',
    });
    assert.match(cluster.consoleTranscript(NAMESPACE, name), /Secure Boot enabled/);

    const expanded = await http.req(
      'GET',
      `/apis/subresources.kubevirt.io/v1/namespaces/${NAMESPACE}/virtualmachines/${name}/expand-spec`,
    );
    assert.equal(expanded.status, 200, expanded.text);
    assert.deepEqual(expanded.json.spec.template.spec.domain.firmware.bootloader, {
      efi: { secureBoot: true },
    });
    assert.equal(expanded.json.spec.preference, undefined);
    assert.equal(expanded.json.status?.preferenceRef, undefined);
  });

  test('the template wins over the preference; a namespaced preference is named by its kind', async () => {
    const pref = await createPreference(http, uniqueName('ns-uefi'), UEFI_SECURE_PREFERENCE);
    const name = uniqueName('bios-wins');
    const manifest = typedVmManifest(name, {
      runStrategy: 'Always',
      preference: { name: pref.metadata.name, kind: 'VirtualMachinePreference' },
    });
    const domain = manifest.spec?.template?.spec?.domain as Obj;
    domain.firmware = { bootloader: { bios: {} } };
    assert.equal((await http.req('POST', VMS, manifest)).status, 200);
    const vmi = await waitFor(async () => getVmi(name), { ...WAIT, what: 'the VMI' });
    assert.deepEqual(vmi.spec.domain.firmware.bootloader, { bios: {} });
    assert.equal(vmi.metadata.annotations['kubevirt.io/preference-name'], pref.metadata.name);
    const vm = await waitFor(
      async () => {
        const v = await getVm(name);
        return v.status?.preferenceRef ? v : undefined;
      },
      { ...WAIT, what: 'the preference ref' },
    );
    assert.equal(vm.status.preferenceRef.kind, 'VirtualMachinePreference');
  });

  test('a VM naming a missing preference does not start and says why', async () => {
    const name = uniqueName('nopref');
    const missing = uniqueName('nothing');
    const manifest = typedVmManifest(name, { runStrategy: 'Always', preference: { name: missing } });
    assert.equal((await http.req('POST', VMS, manifest)).status, 200);
    const failure = await waitFor(
      async () => ((await getVm(name)).status?.conditions ?? []).find((c: Obj) => c.type === 'Failure'),
      { ...WAIT, what: 'a Failure condition' },
    );
    assert.equal(failure.reason, 'FailedFindPreference');
    assert.match(failure.message, new RegExp(`virtualmachineclusterpreferences.* "${missing}" not found`));
    assert.equal(await getVmi(name), undefined);
    const expanded = await http.req(
      'GET',
      `/apis/subresources.kubevirt.io/v1/namespaces/${NAMESPACE}/virtualmachines/${name}/expand-spec`,
    );
    assert.equal(expanded.status, 500);
  });
});
