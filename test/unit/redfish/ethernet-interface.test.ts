import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Inventory, NicInfo } from '../../../src/machine/index.ts';
import { startRedfish } from '../../support/redfish-service.ts';

const inventory = (nics: NicInfo[]): Inventory => ({
  processors: { sockets: 1, coresPerSocket: 1, threadsPerCore: 1, model: 'vCPU', architecture: 'x86-64' },
  memoryBytes: 2 ** 30,
  nics,
  disks: [],
});
const nic = (id: string, mac: string | null, macSource?: NicInfo['macSource'], linkUp = false): NicInfo => ({
  id,
  name: id,
  mac,
  ...(macSource ? { macSource } : {}),
  ipv4: [],
  ipv6: [],
  linkUp,
});

test('EthernetInterfaces: a stopped VM shows the MAC of its last start (Enabled, LinkDown, no PermanentMACAddress)', async () => {
  const rf = await startRedfish({
    machine: {
      inventory: inventory([
        nic('last', '0a:58:0a:f4:00:05', 'last-start'),
        nic('fixed', '02:ab:cd:00:11:22', 'configured'),
        nic('now', '52:54:00:00:00:07', 'running', true),
        nic('unknown', null),
      ]),
    },
  });
  try {
    const get = async (id: string) => {
      const r = await rf.request('GET', `/redfish/v1/Systems/1/EthernetInterfaces/${id}`);
      assert.equal(r.status, 200, r.text);
      return r.json;
    };
    const last = await get('last');
    assert.equal(last.MACAddress, '0a:58:0a:f4:00:05');
    assert.equal(last.Status.State, 'Enabled', 'Ironic keeps only Enabled members');
    assert.equal(last.LinkStatus, 'LinkDown');
    assert.equal(last.PermanentMACAddress, undefined, 'the next start may change it');
    assert.match(last.Description, /last start/);

    const fixed = await get('fixed');
    assert.equal(fixed.MACAddress, '02:ab:cd:00:11:22');
    assert.equal(fixed.PermanentMACAddress, '02:ab:cd:00:11:22');

    const now = await get('now');
    assert.equal(now.MACAddress, '52:54:00:00:00:07');
    assert.equal(now.LinkStatus, 'LinkUp');
    assert.equal(now.PermanentMACAddress, undefined);

    const unknown = await get('unknown');
    assert.equal(unknown.MACAddress, undefined);
    assert.equal(unknown.Status.State, 'Disabled');
  } finally {
    await rf.close();
  }
});
