import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type AuditEntry, auditedMachine, describeAudit } from '../../../src/agent/audit.ts';
import { accountFromSecret } from '../../../src/agent/credentials.ts';
import { AgentHost, type BmcDefinition, type MachineProvider } from '../../../src/agent/host.ts';
import { mappedPort } from '../../../src/agent/ports.ts';
import { definitionFromBmc } from '../../../src/agent/sources.ts';
import { defaultWiring } from '../../../src/agent/wiring.ts';
import { MemoryMachine } from '../../support/memory-machine.ts';

function b64(s: string) {
  return Buffer.from(s).toString('base64');
}

describe('credentials from a Secret', () => {
  test('a valid Secret gives one Administrator account', () => {
    const r = accountFromSecret(
      { metadata: { name: 's' }, data: { username: b64('admin'), password: b64('pw') } },
      'ns/s',
    );
    assert.equal(r.problem, null);
    assert.deepEqual(r.account, { username: 'admin', password: 'pw', role: 'Administrator' });
  });
  test('missing keys and over-long values are problems, never crashes, never echo the value', () => {
    assert.match(accountFromSecret(undefined, 'ns/s').problem!, /Secret ns\/s not found/);
    assert.match(
      accountFromSecret({ metadata: { name: 's' }, data: { username: b64('a') } }, 'ns/s').problem!,
      /no key "password"/,
    );
    const long = 'x'.repeat(25);
    const p = accountFromSecret(
      { metadata: { name: 's' }, data: { username: b64('a'), password: b64(long) } },
      'ns/s',
    ).problem!;
    assert.match(p, /password is 25 bytes; IPMI allows at most 20/);
    assert.ok(!p.includes(long));
  });
});

describe('ports', () => {
  test('the sim port map replaces container ports it names', () => {
    const env = { KUBEVIRTBMC_SIM_PORT_MAP: JSON.stringify({ '10623/UDP': 40001, '10080/TCP': 40002 }) };
    assert.equal(mappedPort(10623, 'UDP', env), 40001);
    assert.equal(mappedPort(10080, 'TCP', env), 40002);
    assert.equal(mappedPort(10080, 'UDP', env), 10080);
    assert.equal(mappedPort(8081, 'TCP', {}), 8081);
  });
});

describe('shared-agent definitions from VirtualMachineBMCs', () => {
  const base = {
    apiVersion: 'bmc.kubevirt.io/v1beta1',
    kind: 'VirtualMachineBMC',
    metadata: { name: 'b1', namespace: 'ns', uid: 'u1' },
    spec: { virtualMachineRef: { name: 'vm1' }, authSecretRef: { name: 'auth' } },
  };
  test('served only once the controller placed it on the shared agent with ports', () => {
    assert.equal(definitionFromBmc(base), null);
    assert.equal(
      definitionFromBmc({ ...base, status: { placement: 'per-vm', ports: { ipmi: 10623 } } }),
      null,
    );
    const d = definitionFromBmc({
      ...base,
      status: { placement: 'shared', ports: { ipmi: 20002, redfish: 20003 } },
    })!;
    assert.equal(d.ipmiPort, 20002);
    assert.equal(d.redfishPort, 20003);
    assert.deepEqual(d.credentials, { kind: 'secret', name: 'auth' });
    assert.equal(d.eventTarget.uid, 'u1');
  });
  test('the IPMI client port comes from the endpoint the controller reports', () => {
    const d = definitionFromBmc({
      ...base,
      status: { placement: 'shared', ports: { ipmi: 20002 }, endpoints: { ipmi: '10.96.0.7:623' } },
    })!;
    assert.equal(d.ipmiPort, 20002);
    assert.equal(d.ipmiClientPort, 623);
    const early = definitionFromBmc({ ...base, status: { placement: 'shared', ports: { ipmi: 20002 } } })!;
    assert.equal(early.ipmiClientPort, undefined, 'no endpoint yet: the bound port is named');
  });
  test('a disabled protocol gets port 0', () => {
    const d = definitionFromBmc({
      ...base,
      spec: { ...base.spec, ipmi: { enabled: false } },
      status: { placement: 'shared', ports: { redfish: 20003 } },
    })!;
    assert.equal(d.ipmiPort, 0);
  });
});

describe('audit wrapper', () => {
  test('records who did what, success and failure, without media credentials', async () => {
    const entries: AuditEntry[] = [];
    const m = auditedMachine(new MemoryMachine({ power: 'Off' }), (e) => entries.push(e));
    const ctx = { actor: 'admin', source: '10.0.0.9:50123', protocol: 'ipmi' as const };
    await m.power('On', ctx);
    await assert.rejects(m.power('GracefulRestart', ctx));
    await m.insertMedia('Cd', { image: 'http://user:secret@example.com/boot.iso' }, ctx).catch(() => {});
    assert.equal(describeAudit(entries[0]!), 'power On by admin from 10.0.0.9:50123 over ipmi');
    assert.equal(entries[1]!.ok, false);
    assert.match(
      describeAudit(entries[1]!),
      /^power GracefulRestart by admin from 10\.0\.0\.9:50123 over ipmi failed: /,
    );
    assert.ok(entries[2] && !describeAudit(entries[2]).includes('secret'));
  });
});

describe('AgentHost serving a machine over the real protocol servers', () => {
  const machine = new MemoryMachine({ power: 'Off' });
  const provider: MachineProvider = { acquire: async () => machine, release: async () => {} };
  const host = new AgentHost({
    client: null,
    servers: defaultWiring(null).servers,
    machines: provider,
    address: '127.0.0.1',
  });
  let redfish = '';
  let health = '';
  const def: BmcDefinition = {
    key: 'ns/b1',
    namespace: 'ns',
    vm: 'vm1',
    eventTarget: { apiVersion: 'v1', kind: 'VirtualMachine', name: 'vm1' },
    credentials: { kind: 'static', username: 'admin', password: 'pw-123' },
    tls: null,
    ipmiPort: 0,
    redfishPort: 0,
  };
  before(async () => {
    // Port 0 means "protocol off" in a definition, so take a free port from the OS first.
    const a = await host.listenHealth(0);
    health = `http://127.0.0.1:${a.port}`;
    const net = await import('node:net');
    const free = await new Promise<number>((r) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => r(p));
      });
    });
    await host.sync([{ ...def, ipmiPort: 0, redfishPort: free }]);
    redfish = host.status()[0]!.endpoints.redfish!;
  });
  after(() => host.stop());

  test('Redfish answers with the right credentials and refuses wrong ones', async () => {
    const ok = await fetch(`${redfish}/redfish/v1/Systems/1`, {
      headers: { Authorization: `Basic ${b64('admin:pw-123')}` },
    });
    assert.equal(ok.status, 200);
    const body = (await ok.json()) as { PowerState: string };
    assert.equal(body.PowerState, 'Off');
    const bad = await fetch(`${redfish}/redfish/v1/Systems/1`, {
      headers: { Authorization: `Basic ${b64('admin:nope')}` },
    });
    assert.equal(bad.status, 401);
  });

  test('a power action through Redfish is counted in the audit metrics', async () => {
    const r = await fetch(`${redfish}/redfish/v1/Systems/1/Actions/ComputerSystem.Reset`, {
      method: 'POST',
      headers: { Authorization: `Basic ${b64('admin:pw-123')}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ ResetType: 'On' }),
    });
    assert.ok(r.status < 300, `status ${r.status}`);
    const metrics = await (await fetch(`${health}/metrics`)).text();
    assert.match(
      metrics,
      /kubevirtbmc_agent_actions_total\{bmc="ns\/b1",reason="PowerAction",protocol="redfish",result="success"\} 1/,
    );
  });

  test('/healthz and /readyz answer 200, /status lists the BMC', async () => {
    assert.equal((await fetch(`${health}/healthz`)).status, 200);
    assert.equal((await fetch(`${health}/readyz`)).status, 200);
    const st = (await (await fetch(`${health}/status`)).json()) as Array<{ key: string }>;
    assert.deepEqual(
      st.map((s) => s.key),
      ['ns/b1'],
    );
  });

  test('sync to an empty set stops the BMC and frees its port', async () => {
    const port = Number(new URL(redfish).port);
    await host.sync([]);
    assert.deepEqual(host.status(), []);
    const net = await import('node:net');
    await new Promise<void>((resolve, reject) => {
      const s = net
        .createServer()
        .once('error', reject)
        .listen(port, '127.0.0.1', () => s.close(() => resolve()));
    });
  });
});
