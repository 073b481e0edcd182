/**
 * The Redfish failed-login policy under attack, with curl as the client (docs/security.md,
 * "Redfish"). Each client address is a loopback address of its own (`--interface 127.x.y.z`:
 * Linux routes all of 127/8 to lo), so "another machine" is another source address. Every attack
 * is bounded in requests; waits are the server's own `Retry-After`, and no assertion is about speed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { missingClients } from '../../support/clients.ts';
import { pythonLines } from '../../support/redfish-clients.ts';
import { ADMIN, type RedfishFixture, startRedfish } from '../../support/redfish-service.ts';

const SYS = '/redfish/v1/Systems/1';
const SESSIONS = '/redfish/v1/SessionService/Sessions';

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A string as a curl config value (double-quoted, `\` and `"` escaped). */
const quoted = (s: string) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

function runCurl(args: string[], stdin = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'curl',
      ['-s', '--max-time', '10', ...args],
      { maxBuffer: 16 * 1024 * 1024, timeout: 120_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`curl: ${err.message} ${stderr}`)) : resolve(stdout)),
    );
    child.stdin?.end(stdin);
  });
}

/** One request from `from`; Basic credentials when `user` is given, a JSON body when `json` is. */
async function curl(
  fx: RedfishFixture,
  path: string,
  o: { from: string; user?: string; password?: string; json?: unknown },
): Promise<Reply> {
  const args = ['-i', '--interface', o.from];
  if (o.user !== undefined) args.push('-u', `${o.user}:${o.password ?? ''}`);
  if (o.json !== undefined)
    args.push('-H', 'Content-Type: application/json', '--data-binary', JSON.stringify(o.json));
  const raw = await runCurl([...args, `${fx.url}${path}`]);
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(head[0]?.split(' ')[1]), headers, body: raw.slice(split + 4) };
}

/** Many Basic-authenticated GETs in one curl run; the status of each, in order. */
async function curlMany(
  fx: RedfishFixture,
  requests: Array<{ from: string; user: string; password: string }>,
): Promise<number[]> {
  const config = requests
    .map((r) =>
      [
        `url = ${quoted(`${fx.url}${SYS}`)}`,
        `interface = ${quoted(r.from)}`,
        `user = ${quoted(`${r.user}:${r.password}`)}`,
        'output = "/dev/null"',
        'write-out = "%{http_code}\\n"',
      ].join('\n'),
    )
    .join('\nnext\n');
  const out = await runCurl(['-K', '-'], config);
  return out.trim().split('\n').map(Number);
}

/**
 * `n` (at most 1,270) made-up user names, 5 per address from 127.`net`.1.1 on, so that each address
 * stays within its own budget: an attacker with 220 addresses.
 */
function spray(n: number, net: number, tag: string) {
  return Array.from({ length: n }, (_, i) => ({
    from: `127.${net}.${Math.floor(i / 5) + 1}.1`,
    user: `${tag}-user-${i}`,
    password: 'Passw0rd!',
  }));
}

function assertRefused(r: Reply): number {
  assert.equal(r.status, 503, r.body.slice(0, 300));
  const retry = Number(r.headers['retry-after']);
  assert.ok(Number.isInteger(retry) && retry >= 1, `Retry-After: ${r.headers['retry-after']}`);
  const body = JSON.parse(r.body);
  assert.equal(body.error.code, 'Base.1.22.ServiceTemporarilyUnavailable');
  assert.equal(body.error['@Message.ExtendedInfo'][0].MessageArgs[0], String(retry));
  assert.equal(r.headers['x-auth-token'], undefined);
  return retry;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Redfish login budgets, attacked with curl from several loopback addresses', () => {
  test('8 wrong passwords from 127.0.0.2 do not lock the account: 127.0.0.1 with the password gets in', {
    timeout: 60_000,
  }, async () => {
    const fx = await startRedfish();
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++)
        statuses.push(
          (await curl(fx, SYS, { from: '127.0.0.2', user: 'admin', password: `guess-${i}` })).status,
        );
      const basic = await curl(fx, SYS, {
        from: '127.0.0.1',
        user: ADMIN.username,
        password: ADMIN.password,
      });
      assert.equal(basic.status, 200, 'Basic from a clean address, with the right password');
      const session = await curl(fx, SESSIONS, {
        from: '127.0.0.1',
        json: { UserName: ADMIN.username, Password: ADMIN.password },
      });
      assert.equal(session.status, 201, 'session login from a clean address');
      assert.match(session.headers['x-auth-token'] ?? '', /^[0-9a-f]{64}$/);
      // The guessing address itself: 6 guesses checked, then slowed down (default budget).
      assert.deepEqual(statuses, [401, 401, 401, 401, 401, 401, 503, 503]);
      assertRefused(
        await curl(fx, SYS, { from: '127.0.0.2', user: ADMIN.username, password: ADMIN.password }),
      );
    } finally {
      await fx.close();
    }
  });

  test('an address over its budget is refused even with the right password until Retry-After passes', {
    timeout: 60_000,
  }, async () => {
    const fx = await startRedfish({ server: { loginLimits: { sourceBurst: 3, sourceRefillMs: 1500 } } });
    try {
      for (let i = 0; i < 3; i++)
        assert.equal(
          (await curl(fx, SYS, { from: '127.0.0.3', user: 'admin', password: `x${i}` })).status,
          401,
        );
      const basic = await curl(fx, SYS, {
        from: '127.0.0.3',
        user: ADMIN.username,
        password: ADMIN.password,
      });
      const retry = assertRefused(basic);
      assert.ok(retry <= 2, 'one failure is forgiven after 1.5 s');
      // Session login goes through the same budget.
      assertRefused(
        await curl(fx, SESSIONS, {
          from: '127.0.0.3',
          json: { UserName: ADMIN.username, Password: ADMIN.password },
        }),
      );
      // The service root stays readable; it just does not take the credentials.
      assert.equal(
        (await curl(fx, '/redfish/v1/', { from: '127.0.0.3', user: 'admin', password: 'x' })).status,
        200,
      );
      await sleep(retry * 1000);
      const later = await curl(fx, SYS, {
        from: '127.0.0.3',
        user: ADMIN.username,
        password: ADMIN.password,
      });
      assert.equal(later.status, 200, 'after the delay the password works again');
    } finally {
      await fx.close();
    }
  });

  test('spraying 2 × 1,100 made-up user names between guesses does not reset the admin budget', {
    timeout: 180_000,
  }, async () => {
    // Refills slowed down to 10 minutes, so the run's own duration forgives nothing.
    const fx = await startRedfish({
      server: { loginLimits: { sourceRefillMs: 600_000, accountRefillMs: 600_000 } },
    });
    try {
      // A console that uses the BMC.
      assert.equal(
        (await curl(fx, SYS, { from: '127.0.0.1', user: ADMIN.username, password: ADMIN.password })).status,
        200,
      );
      const guesses = (first: number) =>
        Array.from({ length: 4 }, (_, i) => ({
          from: `127.0.2.${first + i}`,
          user: 'admin',
          password: `guess-${first + i}`,
        }));
      const g1 = await curlMany(fx, guesses(1));
      const s1 = await curlMany(fx, spray(1100, 10, 'a'));
      const g2 = await curlMany(fx, guesses(5));
      const s2 = await curlMany(fx, spray(1100, 20, 'b'));
      const g3 = await curlMany(fx, guesses(9));
      assert.equal(s1.length + s2.length, 2200);
      assert.ok(
        [...s1, ...s2].every((s) => s === 401),
        'every sprayed name was checked (and failed)',
      );
      assert.deepEqual([...g1, ...g2, ...g3], [...Array(10).fill(401), 503, 503], '10 guesses, then refused');
      // A new address is refused even with the password, for the account's sake…
      assertRefused(
        await curl(fx, SYS, { from: '127.0.2.200', user: ADMIN.username, password: ADMIN.password }),
      );
      // …but the console's address is one the account trusts.
      assert.equal(
        (await curl(fx, SYS, { from: '127.0.0.1', user: ADMIN.username, password: ADMIN.password })).status,
        200,
      );
      const acct = await curl(fx, '/redfish/v1/AccountService/Accounts/1', {
        from: '127.0.0.1',
        user: ADMIN.username,
        password: ADMIN.password,
      });
      assert.equal(JSON.parse(acct.body).Locked, true);
    } finally {
      await fx.close();
    }
  });
});

test('sushy (Ironic) from an address over its budget waits out the 503 and carries on', {
  skip: missingClients('sushy'),
  timeout: 120_000,
}, async () => {
  const refusals: string[] = [];
  const fx = await startRedfish({
    server: {
      loginLimits: { sourceBurst: 2, sourceRefillMs: 4000 },
      onLoginFailure: (e) => {
        if (e.reason.startsWith('too many')) refusals.push(e.source);
      },
    },
  });
  try {
    // Someone at the console's address got the password wrong twice: the address is over budget.
    for (let i = 0; i < 2; i++)
      assert.equal(
        (await curl(fx, SYS, { from: '127.0.0.1', user: 'admin', password: `x${i}` })).status,
        401,
      );
    assertRefused(await curl(fx, SYS, { from: '127.0.0.1', user: ADMIN.username, password: ADMIN.password }));
    // sushy retries a GET answered 503 (3 s later, up to 10 times), as Ironic's power sync would.
    const script = fileURLToPath(new URL('./sushy_ironic.py', import.meta.url));
    const [line] = await pythonLines(script, [
      fx.url,
      ADMIN.username,
      ADMIN.password,
      'basic',
      JSON.stringify([{ op: 'discover' }]),
    ]);
    assert.equal(line?.power, 'Off');
    assert.ok(refusals.length >= 2, 'sushy was answered 503 at least once before it got through');
  } finally {
    await fx.close();
  }
});

describe('failed Redfish logins in the log', () => {
  const lines: Array<Record<string, unknown>> = [];
  let fx: RedfishFixture;
  before(async () => {
    const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) });
    fx = await startRedfish({ server: { logger } });
  });
  after(() => fx.close());

  test('with user name (truncated, escaped) and source address, never the password', async () => {
    const basic = await curl(fx, SYS, { from: '127.0.0.4', user: 'ops-äö', password: 'S3cret-Guess-77' });
    assert.equal(basic.status, 401);
    const long = `evil\n${'n'.repeat(200)}`;
    const session = await curl(fx, SESSIONS, {
      from: '127.0.0.5',
      json: { UserName: long, Password: 'S3cret-Guess-78' },
    });
    assert.equal(session.status, 401);
    const wrong = await curl(fx, SESSIONS, {
      from: '127.0.0.5',
      json: { UserName: 'admin', Password: 'S3cret-Guess-79' },
    });
    assert.equal(wrong.status, 401);
    const failed = lines.filter((l) => l.msg === 'redfish: login failed');
    assert.equal(failed.length, 3);
    assert.equal(failed[0]!.user, 'ops-äö');
    assert.match(String(failed[0]!.source), /^127\.0\.0\.4:\d+$/);
    assert.equal(failed[0]!.via, 'basic');
    assert.equal(failed[0]!.reason, 'unknown user name');
    assert.equal(failed[1]!.user, `evil\\u{a}${'n'.repeat(59)}…(141 more)`);
    assert.match(String(failed[1]!.source), /^127\.0\.0\.5:\d+$/);
    assert.equal(failed[1]!.via, 'session');
    assert.equal(failed[2]!.user, 'admin');
    assert.equal(failed[2]!.reason, 'wrong password');
    const text = JSON.stringify(lines);
    for (const secret of ['S3cret-Guess-77', 'S3cret-Guess-78', 'S3cret-Guess-79'])
      assert.equal(text.includes(secret), false, `${secret} reached the log`);
  });
});
