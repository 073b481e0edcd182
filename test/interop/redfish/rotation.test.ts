/**
 * Rotating a password ends the Redfish sessions opened with the old one, as curl sees it: log in
 * with POST SessionService/Sessions, use the X-Auth-Token, rotate, the token gets 401. The accounts
 * come from an `AccountList`, the seam the agent's Secret-backed credentials use.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { AccountList, type BmcAccount } from '../../../src/machine/index.ts';
import { RedfishServer } from '../../../src/redfish/server.ts';
import { MemoryMachine } from '../../support/memory-machine.ts';
import { curlSessionLogin, curlSystemStatus } from '../../support/redfish-curl.ts';

const OLD: BmcAccount = { username: 'admin', password: 'old-password', role: 'Administrator' };
const NEW: BmcAccount = { username: 'admin', password: 'new-password', role: 'Administrator' };
const OTHER: BmcAccount = { username: 'reader', password: 'reader-pass', role: 'ReadOnly' };

function missingCurl(): string | false {
  if (spawnSync('curl', ['--version'], { stdio: 'ignore' }).status === 0) return false;
  if (process.env.CI === 'true') throw new Error('curl is missing (CI=true: a missing tool is a failure)');
  return 'MISSING TOOL curl: install with `apt-get install curl`';
}

describe('curl: a session token stops working when the password rotates', { skip: missingCurl() }, () => {
  let machine: MemoryMachine;
  let list: AccountList;
  let server: RedfishServer;
  let url = '';

  const login = (user: BmcAccount) => curlSessionLogin(url, user.username, user.password);
  const getWithToken = (token: string) => curlSystemStatus(url, { token });
  const getWithBasic = (user: BmcAccount) =>
    curlSystemStatus(url, { user: user.username, password: user.password });

  before(async () => {
    machine = new MemoryMachine();
    list = new AccountList([OLD, OTHER]);
    server = new RedfishServer({ systems: { kind: 'single', machine }, accounts: list.source });
    const a = await server.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${a.port}`;
  });
  after(async () => {
    await server.close();
    machine.dispose();
  });

  test('the token works, the password rotates, the token gets 401; the new password logs in', async () => {
    const token = await login(OLD);
    const reader = await login(OTHER);
    assert.equal(await getWithToken(token), '200');
    // The attack this prevents: a token obtained with a leaked password outlives the rotation.
    assert.deepEqual(list.set([NEW, OTHER]).ended, [{ protocol: 'redfish', sessions: 1 }]);
    assert.equal(await getWithToken(token), '401');
    assert.equal(await getWithToken(reader), '200', "another account's session stays");
    assert.equal(await getWithBasic(OLD), '401');
    assert.equal(await getWithBasic(NEW), '200');
    const fresh = await login(NEW);
    assert.equal(await getWithToken(fresh), '200');
  });

  test('close() stops following the accounts', async () => {
    const other = new RedfishServer({ systems: { kind: 'single', machine }, accounts: list.source });
    assert.equal(list.subscribers, 2);
    await other.listen(0, '127.0.0.1');
    await other.close();
    assert.equal(list.subscribers, 1);
  });
});
