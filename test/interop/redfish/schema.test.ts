import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SchemaValidator } from '../../support/redfish-schemas.ts';
import { crawl, type RedfishFixture, startRedfish } from '../../support/redfish-service.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * Every GET payload of the tree, in single and aggregate mode and in several machine states, is
 * valid against its DMTF JSON schema (DSP8010 2025.4), and every `@odata.id` matches its URI.
 */
let validator: SchemaValidator;

before(() => {
  validator = SchemaValidator.open();
});

function checkAll(pages: Map<string, { status: number; json: unknown }>): string[] {
  const problems: string[] = [];
  for (const [uri, res] of pages) {
    if (res.status !== 200) {
      problems.push(`${uri}: status ${res.status}`);
      continue;
    }
    const body = res.json as Record<string, unknown>;
    if (uri === '/redfish/v1/odata') continue;
    if (body['@odata.id'] !== uri) problems.push(`${uri}: @odata.id is ${String(body['@odata.id'])}`);
    if (Array.isArray(body.Members) && body['Members@odata.count'] !== body.Members.length) {
      problems.push(
        `${uri}: Members@odata.count ${String(body['Members@odata.count'])} for ${body.Members.length}`,
      );
    }
    // Id names the last URI segment (the service root is the one exception: `RootService`).
    if (typeof body.Id === 'string' && uri !== '/redfish/v1/' && !uri.endsWith(`/${body.Id}`)) {
      problems.push(`${uri}: Id ${body.Id}`);
    }
    for (const e of validator.validate(body)) problems.push(`${uri} (${String(body['@odata.type'])}): ${e}`);
  }
  return problems;
}

let single: RedfishFixture;
let aggregate: RedfishFixture;

before(async () => {
  single = await startRedfish({ machine: { supportsNmi: true } });
  aggregate = await startRedfish({
    aggregate: [
      { identity: { namespace: 'ns1', name: 'alpha' } },
      { identity: { namespace: 'ns2', name: 'beta' } },
    ],
  });
});
after(async () => {
  await single?.close();
  await aggregate?.close();
});

test('every GET payload of the single-system tree validates against its DMTF schema', async () => {
  const pages = await crawl(single);
  assert.ok(pages.size >= 35, `crawled only ${pages.size} URIs`);
  for (const must of [
    '/redfish/v1/Systems/1',
    '/redfish/v1/Managers/BMC',
    '/redfish/v1/Chassis/1',
    '/redfish/v1/Systems/1/VirtualMedia/Cd',
    '/redfish/v1/Managers/BMC/VirtualMedia/Cd',
    '/redfish/v1/Systems/1/Storage/1/Drives/rootdisk',
    '/redfish/v1/Registries/Base.1.22.0',
    '/redfish/v1/AccountService/Roles/Operator',
  ]) {
    assert.ok(pages.has(must), `${must} not reachable from the root`);
  }
  assert.deepEqual(checkAll(pages), []);
});

test('payloads stay valid while powered on, with media inserting, inserted and a task', async () => {
  await single.request('POST', '/redfish/v1/Systems/1/Actions/ComputerSystem.Reset', {
    json: { ResetType: 'On' },
  });
  await single.request('PATCH', '/redfish/v1/Systems/1', {
    json: { Boot: { BootSourceOverrideTarget: 'Cd', BootSourceOverrideEnabled: 'Continuous' } },
  });
  const ins = await single.request(
    'POST',
    '/redfish/v1/Systems/1/VirtualMedia/Cd/Actions/VirtualMedia.InsertMedia',
    {
      json: { Image: 'http://images.example/boot.iso' },
    },
  );
  assert.equal(ins.status, 202);
  assert.deepEqual(checkAll(await crawl(single)), []);
  await waitFor(() => single.machine.getMediaSlots()[0]?.state === 'Inserted', { what: 'media inserted' });
  const pages = await crawl(single);
  assert.ok(pages.has('/redfish/v1/TaskService/Tasks/1'));
  assert.deepEqual(checkAll(pages), []);
  // A session shows up in the collection and validates too.
  const login = await single.request('POST', '/redfish/v1/SessionService/Sessions', {
    auth: null,
    json: { UserName: 'admin', Password: 'Adm1n-pass' },
  });
  assert.equal(login.status, 201);
  assert.deepEqual(validator.validate(login.json), []);
  assert.deepEqual(checkAll(await crawl(single, '/redfish/v1/SessionService/Sessions')), []);
});

test('every GET payload of the aggregate tree validates, with <namespace>.<vm> ids', async () => {
  const pages = await crawl(aggregate);
  for (const id of ['ns1.alpha', 'ns2.beta']) {
    for (const uri of [
      `/redfish/v1/Systems/${id}`,
      `/redfish/v1/Managers/${id}`,
      `/redfish/v1/Chassis/${id}`,
    ]) {
      assert.equal(pages.get(uri)?.status, 200, uri);
    }
  }
  assert.deepEqual(checkAll(pages), []);
});

test('expanded collections validate member by member', async () => {
  const res = await single.request('GET', '/redfish/v1/Systems/1/EthernetInterfaces?$expand=.($levels=1)');
  assert.equal(res.status, 200);
  assert.equal(res.json.Members[0]['@odata.type'].startsWith('#EthernetInterface.'), true);
  for (const m of res.json.Members) assert.deepEqual(validator.validate(m), []);
});
