import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { missingRedfishtool } from '../../support/redfish-clients.ts';
import { ADMIN, type RedfishFixture, startRedfish } from '../../support/redfish-service.ts';
import { selfSignedCert } from '../../support/redfish-tls.ts';
import { waitFor } from '../../support/wait.ts';

/** DMTF's redfishtool over HTTPS (a self-signed certificate made at test time). */
const skip = missingRedfishtool();
let fx: RedfishFixture;

before(async () => {
  if (!skip) fx = await startRedfish({ tls: selfSignedCert(), machine: { power: 'Off' } });
});
after(async () => fx?.close());

async function redfishtool(...args: string[]): Promise<string> {
  const base = ['-r', `127.0.0.1:${fx.port}`, '-S', 'Always', '-T', '20'];
  const creds = args.includes('-t') ? [] : ['-u', ADMIN.username, '-p', ADMIN.password];
  const { stdout } = await promisify(execFile)('redfishtool', [...base, ...creds, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return stdout;
}

test('versions', { skip }, async () => {
  assert.deepEqual(JSON.parse(await redfishtool('versions')), { v1: '/redfish/v1/' });
});

test('Systems -F get shows the machine', { skip }, async () => {
  const sys = JSON.parse(await redfishtool('Systems', '-F', 'get'));
  assert.equal(sys.Id, '1');
  assert.equal(sys.PowerState, 'Off');
  assert.equal(sys.UUID, fx.machine.getIdentity().uuid);
  assert.equal(sys['@odata.etag'].length > 2, true);
});

test('Systems -F reset On powers the machine on; GracefulShutdown powers it off', { skip }, async () => {
  await redfishtool('Systems', '-F', 'reset', 'On');
  await waitFor(() => fx.machine.getPowerState() === 'On', { what: 'On' });
  await redfishtool('Systems', '-F', 'reset', 'GracefulShutdown');
  await waitFor(() => fx.machine.getPowerState() === 'Off', { what: 'Off' });
});

test('Systems -F setBootOverride (redfishtool PATCHes with the ETag it read)', { skip }, async () => {
  const out = JSON.parse(await redfishtool('Systems', '-F', 'setBootOverride', 'Continuous', 'Cd'));
  assert.equal(out.Boot.BootSourceOverrideTarget, 'Cd');
  assert.deepEqual(fx.machine.getBootOverride(), { target: 'Cd', persistence: 'Continuous', mode: 'UEFI' });
  await redfishtool('Systems', '-F', 'setBootOverride', 'Once', 'Pxe');
  assert.deepEqual(fx.machine.getBootOverride(), { target: 'Pxe', persistence: 'Once', mode: 'UEFI' });
});

test('Managers and Managers -F get', { skip }, async () => {
  const coll = JSON.parse(await redfishtool('Managers'));
  assert.deepEqual(coll.Members, [{ '@odata.id': '/redfish/v1/Managers/BMC' }]);
  const bmc = JSON.parse(await redfishtool('Managers', '-F', 'get'));
  assert.equal(bmc.ManagerType, 'BMC');
  assert.deepEqual(bmc.Links.ManagerForServers, [{ '@odata.id': '/redfish/v1/Systems/1' }]);
});

test('SessionService login, use of the token, logout revokes it', { skip }, async () => {
  const login = JSON.parse(await redfishtool('SessionService', 'login'));
  const token: string = login['X-Auth-Token'];
  assert.match(token, /^[0-9a-f]{64}$/);
  assert.equal(login.SessionLocation, `/redfish/v1/SessionService/Sessions/${login.SessionId}`);
  const sys = JSON.parse(await redfishtool('-t', token, '-A', 'Session', 'Systems', '-F', 'get'));
  assert.equal(sys.Id, '1');
  await redfishtool('-t', token, '-A', 'Session', 'SessionService', 'logout', '-i', login.SessionId);
  await waitFor(async () => (await fx.request('GET', '/redfish/v1/Systems/1', { token })).status === 401, {
    what: 'the token to be revoked',
  });
  const list = await fx.request('GET', '/redfish/v1/SessionService/Sessions');
  assert.equal(list.json['Members@odata.count'], 0);
});
