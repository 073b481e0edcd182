/**
 * Redfish as a user drives it with curl: log in with POST SessionService/Sessions and keep the
 * X-Auth-Token, then read a resource with that token or with Basic auth and look at the status.
 */
import assert from 'node:assert/strict';
import { runCommand } from './run.ts';

/** Logs in with POST `base`/redfish/v1/SessionService/Sessions; asserts 201 and returns the token. */
export async function curlSessionLogin(base: string, user: string, password: string): Promise<string> {
  const r = await runCommand(
    'curl',
    ['-sS', '-D', '-', '-o', '/dev/null', '--max-time', '10', '-H', 'Content-Type: application/json']
      .concat(['-d', JSON.stringify({ UserName: user, Password: password })])
      .concat([`${base}/redfish/v1/SessionService/Sessions`]),
    { timeoutMs: 15_000 },
  );
  assert.match(r.stdout, /^HTTP\/1\.1 201/, r.stdout + r.stderr);
  const token = /^x-auth-token: *(\S+)/im.exec(r.stdout)?.[1];
  assert.ok(token, r.stdout);
  return token;
}

/** GET `base`/redfish/v1/Systems/1 with a session token or Basic credentials; the HTTP status, e.g. `'401'`. */
export async function curlSystemStatus(
  base: string,
  auth: { token: string } | { user: string; password: string },
): Promise<string> {
  const credentials =
    'token' in auth ? ['-H', `X-Auth-Token: ${auth.token}`] : ['-u', `${auth.user}:${auth.password}`];
  const r = await runCommand(
    'curl',
    ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', ...credentials].concat([
      `${base}/redfish/v1/Systems/1`,
    ]),
    { timeoutMs: 15_000 },
  );
  return r.stdout.trim();
}
