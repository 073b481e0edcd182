import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ADMIN, OPERATOR, READER, type RedfishFixture, startRedfish } from '../../support/redfish-service.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * Protocol behaviour of DSP0266 as a client sees it on the wire: status codes, headers, ETags,
 * conditional requests, authentication, error bodies. Plain HTTP requests, no client library.
 */
let fx: RedfishFixture;
const SYS = '/redfish/v1/Systems/1';

before(async () => {
  fx = await startRedfish({
    machine: { supportsNmi: true },
    // Every test here is one client on 127.0.0.1: a per-source budget above their failures in all.
    server: { loginLimits: { accountBurst: 3, accountRefillMs: 60_000, sourceBurst: 50 } },
  });
});
after(async () => fx.close());

/** Sends bytes as they are and returns the raw response text (for methods Node cannot send). */
function rawExchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    let out = '';
    socket.on('data', (d) => {
      out += d.toString('latin1');
    });
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
    socket.setTimeout(5000, () => {
      socket.destroy();
      resolve(out);
    });
  });
}

function assertErrorBody(json: { error?: Record<string, unknown> }, id: string): void {
  assert.ok(json?.error, 'an error body');
  assert.equal(json.error.code, `Base.1.22.${id}`);
  const info = json.error['@Message.ExtendedInfo'] as { MessageId: string; Message: string }[];
  assert.equal(info[0]?.MessageId, `Base.1.22.${id}`);
  assert.ok(info[0]?.Message.length);
}

describe('unauthenticated paths', () => {
  test('/redfish, the service root (with and without slash), odata and $metadata need no login', async () => {
    const v = await fx.request('GET', '/redfish', { auth: null });
    assert.equal(v.status, 200);
    assert.deepEqual(v.json, { v1: '/redfish/v1/' });
    for (const p of ['/redfish/v1/', '/redfish/v1']) {
      const r = await fx.request('GET', p, { auth: null });
      assert.equal(r.status, 200, p);
      assert.equal(r.json['@odata.id'], '/redfish/v1/');
      assert.equal(r.json.Vendor, 'KubeVirt');
      assert.equal(r.json.Links.Sessions['@odata.id'], '/redfish/v1/SessionService/Sessions');
    }
    const od = await fx.request('GET', '/redfish/v1/odata', { auth: null });
    assert.equal(od.status, 200);
    assert.equal(od.json['@odata.context'], '/redfish/v1/$metadata');
    assert.ok(od.json.value.some((v: { url: string }) => v.url === '/redfish/v1/Systems'));
    const md = await fx.request('GET', '/redfish/v1/$metadata', {
      auth: null,
      headers: { Accept: 'application/xml' },
    });
    assert.equal(md.status, 200);
    assert.match(String(md.headers['content-type']), /^application\/xml/);
    assert.match(
      md.text,
      /<EntityContainer Name="Service" Extends="ServiceRoot\.v1_20_0\.ServiceContainer"\/>/,
    );
  });

  test('$metadata references the CSDL of every @odata.type the tree serves', async () => {
    const md = (await fx.request('GET', '/redfish/v1/$metadata', { auth: null })).text;
    const types = new Set<string>();
    const queue = ['/redfish/v1/'];
    const seen = new Set<string>();
    while (queue.length) {
      const uri = queue.shift()!;
      if (seen.has(uri)) continue;
      seen.add(uri);
      const r = await fx.request('GET', uri);
      if (r.status !== 200) continue;
      const t = r.json['@odata.type'];
      if (typeof t === 'string') types.add(t);
      JSON.stringify(r.json).replace(/"@odata\.id":"([^"]+)"/g, (_, id: string) => {
        if (!seen.has(id)) queue.push(id);
        return '';
      });
    }
    assert.ok(types.size > 20);
    for (const t of types) {
      const [, ns, version] = /^#([A-Za-z]+)\.(?:(v\d+_\d+_\d+)\.)?/.exec(t) ?? [];
      assert.ok(md.includes(`schemas/v1/${ns}_v1.xml`), `no reference for ${ns}`);
      if (version) assert.ok(md.includes(`Namespace="${ns}.${version}"`), `no include for ${ns}.${version}`);
    }
  });

  test('everything else needs credentials: 401 with WWW-Authenticate and a Base error body', async () => {
    for (const p of [
      SYS,
      '/redfish/v1/Systems',
      '/redfish/v1/Managers/BMC',
      '/redfish/v1/SessionService/Sessions',
    ]) {
      const r = await fx.request('GET', p, { auth: null });
      assert.equal(r.status, 401, p);
      assert.match(String(r.headers['www-authenticate']), /^Basic realm=/);
      assert.equal(r.headers['odata-version'], '4.0');
      assertErrorBody(r.json, 'NoValidSession');
    }
    // Authentication comes before routing: a bad token on a URI that does not exist is 401, not 404.
    const bogus = await fx.request('GET', '/redfish/v1/RPVfoobar', { token: 'deadbeef' });
    assert.equal(bogus.status, 401);
    // A conditional GET without credentials is 401, not 304.
    const etag = (await fx.request('GET', SYS)).headers.etag!;
    const cond = await fx.request('GET', SYS, { auth: null, headers: { 'If-None-Match': etag } });
    assert.equal(cond.status, 401);
  });

  test('wrong Basic credentials are 401; the password is never echoed', async () => {
    const r = await fx.request('GET', SYS, { auth: { username: 'admin', password: 'S3cret-wrong' } });
    assert.equal(r.status, 401);
    assert.ok(!r.text.includes('S3cret-wrong'));
  });
});

describe('headers', () => {
  test('OData-Version 4.0 on every response, success or error; other versions are refused', async () => {
    for (const [m, p] of [
      ['GET', SYS],
      ['GET', '/redfish/v1/nope'],
      ['DELETE', '/redfish/v1/'],
    ] as const) {
      assert.equal((await fx.request(m, p)).headers['odata-version'], '4.0', `${m} ${p}`);
    }
    const r = await fx.request('GET', SYS, { headers: { 'OData-Version': '4.1' } });
    assert.equal(r.status, 412);
    assert.equal((await fx.request('GET', SYS, { headers: { 'OData-Version': '4.0' } })).status, 200);
  });

  test('GET carries a strong ETag equal to @odata.etag, Allow, Link and JSON content type', async () => {
    const r = await fx.request('GET', SYS);
    assert.equal(r.status, 200);
    assert.match(String(r.headers.etag), /^"[^"]+"$/);
    assert.equal(r.json['@odata.etag'], r.headers.etag);
    assert.equal(r.headers.allow, 'GET, HEAD, PATCH');
    assert.equal(r.headers['content-type'], 'application/json;charset=utf-8');
    assert.equal(
      r.headers.link,
      '<http://redfish.dmtf.org/schemas/v1/ComputerSystem.v1_27_0.json>; rel=describedby',
    );
    assert.ok(r.headers['cache-control']);
    // Same state, same ETag; HEAD has the headers and no body.
    assert.equal((await fx.request('GET', SYS)).headers.etag, r.headers.etag);
    const h = await fx.request('HEAD', SYS);
    assert.equal(h.status, 200);
    assert.equal(h.headers.etag, r.headers.etag);
    assert.equal(h.text, '');
  });

  test('If-None-Match with the current ETag is 304', async () => {
    const etag = (await fx.request('GET', SYS)).headers.etag!;
    const r = await fx.request('GET', SYS, { headers: { 'If-None-Match': etag } });
    assert.equal(r.status, 304);
  });

  test('trailing slashes are accepted and ids are emitted without them', async () => {
    const r = await fx.request('GET', `${SYS}/`);
    assert.equal(r.status, 200);
    assert.equal(r.json['@odata.id'], SYS);
    assert.equal((await fx.request('GET', '/redfish/v1/Systems/')).json['Members@odata.count'], 1);
  });
});

describe('methods and status codes', () => {
  test('405 with Allow and OperationNotAllowed for methods a resource does not support', async () => {
    for (const [m, p, allow] of [
      ['DELETE', '/redfish/v1/', 'GET, HEAD'],
      ['PATCH', '/redfish/v1/', 'GET, HEAD'],
      ['POST', '/redfish/v1/', 'GET, HEAD'],
      ['PUT', SYS, 'GET, HEAD, PATCH'],
      ['DELETE', SYS, 'GET, HEAD, PATCH'],
      ['PATCH', `${SYS}/Bios`, 'GET, HEAD'],
      ['GET', `${SYS}/Actions/ComputerSystem.Reset`, 'POST'],
      ['PROPFIND', SYS, 'GET, HEAD, PATCH'],
    ] as const) {
      const r = await fx.request(m, p, { json: m === 'GET' ? undefined : {} });
      assert.equal(r.status, 405, `${m} ${p}`);
      assert.equal(r.headers.allow, allow, `${m} ${p}`);
      assertErrorBody(r.json, 'OperationNotAllowed');
    }
  });

  test("a method token Node's parser rejects still gets 405 with Allow, in the DMTF format", async () => {
    const out = await rawExchange(fx.port, `FAKEMETHODFORTEST ${SYS} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.match(out, /^HTTP\/1\.1 405 /);
    assert.match(out, /\r\nAllow: GET, HEAD, PATCH\r\n/);
    assert.match(out, /\r\nOData-Version: 4\.0\r\n/);
    assert.match(out, /"code":"Base\.1\.22\.OperationNotAllowed"/);
  });

  test('404 ResourceMissingAtURI for unknown URIs, ResourceNotFound for unknown members', async () => {
    const r = await fx.request('GET', '/redfish/v1/Nothing/Here');
    assert.equal(r.status, 404);
    assertErrorBody(r.json, 'ResourceMissingAtURI');
    const s = await fx.request('GET', '/redfish/v1/Systems/2');
    assert.equal(s.status, 404);
    assertErrorBody(s.json, 'ResourceNotFound');
  });

  test('415 for a body that is not JSON; 400 MalformedJSON for broken JSON; no change', async () => {
    const before = fx.machine.getBootOverride();
    const r = await fx.request('PATCH', SYS, {
      body: 'Boot=Pxe',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(r.status, 415);
    assert.equal(r.json.error['@Message.ExtendedInfo'][0].MessageId, 'Base.1.22.HeaderInvalid');
    const bad = await fx.request('PATCH', SYS, {
      body: '{"Boot": ',
      headers: { 'Content-Type': 'application/json' },
    });
    assert.equal(bad.status, 400);
    assertErrorBody(bad.json, 'MalformedJSON');
    assert.deepEqual(fx.machine.getBootOverride(), before);
  });

  test('request bodies are capped: 413 PayloadTooLarge', async () => {
    const big = JSON.stringify({ Boot: { BootSourceOverrideTarget: 'Pxe' }, Pad: 'x'.repeat(70_000) });
    const r = await fx.request('PATCH', SYS, { body: big, headers: { 'Content-Type': 'application/json' } });
    assert.equal(r.status, 413);
    assertErrorBody(r.json, 'PayloadTooLarge');
    assert.equal(fx.machine.getBootOverride().target, 'None');
  });

  test('400 PropertyUnknown / PropertyNotWritable / PropertyValueNotInList, and nothing changes', async () => {
    const before = fx.machine.getBootOverride();
    const unknown = await fx.request('PATCH', SYS, { json: { Bogus: 1 } });
    assert.equal(unknown.status, 400);
    assertErrorBody(unknown.json, 'PropertyUnknown');
    assert.deepEqual(unknown.json.error['@Message.ExtendedInfo'][0].MessageArgs, ['Bogus']);
    const ro = await fx.request('PATCH', SYS, {
      json: { PowerState: 'On', Boot: { BootSourceOverrideTarget: 'Pxe' } },
    });
    assert.equal(ro.status, 400);
    assertErrorBody(ro.json, 'PropertyNotWritable');
    const notInList = await fx.request('PATCH', SYS, {
      json: { Boot: { BootSourceOverrideTarget: 'Floppy' } },
    });
    assert.equal(notInList.status, 400);
    assertErrorBody(notInList.json, 'PropertyValueNotInList');
    assert.deepEqual(notInList.json.error['@Message.ExtendedInfo'][0].RelatedProperties, [
      '#/Boot/BootSourceOverrideTarget',
    ]);
    assert.deepEqual(fx.machine.getBootOverride(), before);
  });

  test("a PATCH in bmclib's style (the whole Boot object echoed back) is accepted", async () => {
    const current = (await fx.request('GET', SYS)).json;
    const boot = {
      ...current.Boot,
      BootSourceOverrideTarget: 'Pxe',
      BootSourceOverrideEnabled: 'Once',
      BootSourceOverrideMode: 'UEFI',
      HttpBootUri: '',
      BootOrder: [],
      AliasBootOrder: null,
      BootNext: '',
      UefiTargetBootSourceOverride: '',
      AutomaticRetryConfig: '',
      AutomaticRetryAttempts: 0,
    };
    const r = await fx.request('PATCH', SYS, {
      json: { Boot: boot },
      headers: {
        'If-Match': current['@odata.etag'],
        'Content-Type': 'application/json',
        'User-Agent': 'gofish/1.0',
      },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.Boot.BootSourceOverrideTarget, 'Pxe');
    assert.equal(r.json.Boot.BootSourceOverrideEnabled, 'Once');
    assert.deepEqual(fx.machine.getBootOverride(), { target: 'Pxe', persistence: 'Once', mode: 'UEFI' });
    // bmclib's retry form: only Target, Enabled and an empty HttpBootUri.
    const r2 = await fx.request('PATCH', SYS, {
      json: {
        Boot: { BootSourceOverrideTarget: 'Hdd', BootSourceOverrideEnabled: 'Continuous', HttpBootUri: '' },
      },
    });
    assert.equal(r2.status, 200);
    assert.deepEqual(fx.machine.getBootOverride(), {
      target: 'Hdd',
      persistence: 'Continuous',
      mode: 'UEFI',
    });
  });

  test('PATCH with a stale If-Match is 412 and changes nothing; a current one or * succeeds', async () => {
    const stale = (await fx.request('GET', SYS)).headers.etag!;
    await fx.request('PATCH', SYS, { json: { Boot: { BootSourceOverrideTarget: 'Cd' } } });
    const r = await fx.request('PATCH', SYS, {
      json: { Boot: { BootSourceOverrideTarget: 'Pxe' } },
      headers: { 'If-Match': stale },
    });
    assert.equal(r.status, 412);
    assertErrorBody(r.json, 'PreconditionFailed');
    assert.equal(fx.machine.getBootOverride().target, 'Cd');
    const weak = await fx.request('PATCH', SYS, {
      json: { Boot: { BootSourceOverrideTarget: 'Pxe' } },
      headers: { 'If-Match': `W/${(await fx.request('GET', SYS)).headers.etag}` },
    });
    assert.equal(weak.status, 412, 'a weak ETag never matches strongly');
    const fresh = (await fx.request('GET', SYS)).headers.etag!;
    const ok = await fx.request('PATCH', SYS, {
      json: { Boot: { BootSourceOverrideTarget: 'Pxe' } },
      headers: { 'If-Match': fresh },
    });
    assert.equal(ok.status, 200);
    assert.notEqual(ok.headers.etag, fresh);
    assert.equal(ok.json['@odata.etag'], ok.headers.etag);
    const star = await fx.request('PATCH', SYS, {
      json: { Boot: { BootSourceOverrideTarget: 'Hdd' } },
      headers: { 'If-Match': '*' },
    });
    assert.equal(star.status, 200);
  });

  test('actions ignore If-Match (gofish sends the stale ETag of the media it just ejected)', async () => {
    const vm = '/redfish/v1/Managers/BMC/VirtualMedia/Cd';
    const stale = (await fx.request('GET', vm)).headers.etag!;
    const ins = await fx.request('POST', `${vm}/Actions/VirtualMedia.InsertMedia`, {
      json: { Image: 'http://x.example/a.iso', Inserted: true, WriteProtected: true },
      headers: { 'If-Match': stale },
    });
    assert.ok([202, 204].includes(ins.status), ins.text);
    const ej = await fx.request('POST', `${vm}/Actions/VirtualMedia.EjectMedia`, {
      json: {},
      headers: { 'If-Match': stale },
    });
    assert.equal(ej.status, 204);
  });

  test('GET ignores a request body and gofish-style Content-Type on GET', async () => {
    const r = await fx.request('GET', SYS, { json: { junk: true } });
    assert.equal(r.status, 200);
  });
});

describe('query options', () => {
  test('ProtocolFeaturesSupported declares exactly what is implemented', async () => {
    const f = (await fx.request('GET', '/redfish/v1/')).json.ProtocolFeaturesSupported;
    assert.equal(f.SelectQuery, true);
    assert.equal(f.TopSkipQuery, true);
    assert.equal(f.ExpandQuery.Levels, true);
    assert.equal(f.FilterQuery, false);
  });

  test("$expand=.($levels=1) (sushy's form) expands members; ~ and * too", async () => {
    const r = await fx.request('GET', '/redfish/v1/Systems?$expand=.($levels=1)');
    assert.equal(r.status, 200);
    assert.equal(r.json.Members[0].Id, '1');
    assert.equal(r.json.Members[0].PowerState, fx.machine.getPowerState());
    const links = await fx.request('GET', `${SYS}?$expand=~`);
    assert.equal(links.json.Links.ManagedBy[0].ManagerType, 'BMC');
    assert.deepEqual(Object.keys(links.json.Processors), ['@odata.id'], '~ leaves subordinate links alone');
    const all = await fx.request('GET', `${SYS}?$expand=*`);
    assert.equal(all.json.Links.Chassis[0].ChassisType, 'Other');
    assert.equal(all.json.Processors['Members@odata.count'], 1);
    const two = await fx.request('GET', `${SYS}?$expand=.($levels=2)`);
    assert.equal(two.json.Processors.Members[0].TotalThreads, 2);
  });

  test('$select keeps the named properties and the identity', async () => {
    const r = await fx.request('GET', `${SYS}?$select=PowerState,Boot/BootSourceOverrideMode`);
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.json).sort(), [
      '@odata.etag',
      '@odata.id',
      '@odata.type',
      'Boot',
      'Id',
      'Name',
      'PowerState',
    ]);
    assert.deepEqual(Object.keys(r.json.Boot), ['BootSourceOverrideMode']);
  });

  test('$top and $skip page a collection; the count stays the total', async () => {
    const many = await startRedfish({
      aggregate: ['a', 'b', 'c', 'd', 'e'].map((name) => ({ identity: { namespace: 'ns', name } })),
    });
    try {
      const r = await many.request('GET', '/redfish/v1/Systems?$skip=1&$top=2');
      assert.equal(r.status, 200);
      assert.deepEqual(
        r.json.Members.map((m: { '@odata.id': string }) => m['@odata.id']),
        ['/redfish/v1/Systems/ns.b', '/redfish/v1/Systems/ns.c'],
      );
      assert.equal(r.json['Members@odata.count'], 5);
      assert.equal(r.json['Members@odata.nextLink'], '/redfish/v1/Systems?$skip=3&$top=2');
      assert.equal((await many.request('GET', '/redfish/v1/Systems?$top=abc')).status, 400);
    } finally {
      await many.close();
    }
  });

  test('unsupported $ options are 501 naming the parameter; other parameters are ignored', async () => {
    const r = await fx.request('GET', '/redfish/v1/?$rpvunknown');
    assert.equal(r.status, 501);
    assert.deepEqual(r.json.error['@Message.ExtendedInfo'][0].MessageArgs, ['$rpvunknown']);
    assertErrorBody(r.json, 'QueryParameterUnsupported');
    assert.equal((await fx.request('GET', '/redfish/v1/?rpvunknown')).status, 200);
    assert.equal((await fx.request('GET', '/redfish/v1/Systems?$filter=Id%20eq%201')).status, 501);
  });
});

describe('sessions', () => {
  test('login: 201, X-Auth-Token, Location equal to @odata.id; token works; DELETE revokes it', async () => {
    const r = await fx.request('POST', '/redfish/v1/SessionService/Sessions', {
      auth: null,
      json: { UserName: ADMIN.username, Password: ADMIN.password },
    });
    assert.equal(r.status, 201);
    const token = String(r.headers['x-auth-token']);
    assert.match(token, /^[0-9a-f]{64}$/);
    assert.equal(r.headers.location, r.json['@odata.id']);
    assert.equal(r.json.UserName, 'admin');
    assert.equal(r.json.Password, null);
    assert.equal((await fx.request('GET', SYS, { token })).status, 200);
    assert.equal((await fx.request('GET', r.headers.location!, { token })).status, 200);
    const del = await fx.request('DELETE', r.headers.location!, { token });
    assert.equal(del.status, 204);
    const after = await fx.request('GET', SYS, { token });
    assert.equal(after.status, 401, 'a deleted session token no longer works');
    assert.ok(after.headers['www-authenticate']);
  });

  test('POST …/Sessions/Members also creates a session; bad credentials are 401 without a token', async () => {
    const r = await fx.request('POST', '/redfish/v1/SessionService/Sessions/Members', {
      auth: null,
      json: { UserName: OPERATOR.username, Password: OPERATOR.password },
    });
    assert.equal(r.status, 201);
    const bad = await fx.request('POST', '/redfish/v1/SessionService/Sessions', {
      auth: null,
      json: { UserName: 'oper', Password: 'nope' },
    });
    assert.equal(bad.status, 401);
    assert.equal(bad.headers['x-auth-token'], undefined);
    const missing = await fx.request('POST', '/redfish/v1/SessionService/Sessions', { auth: null, json: {} });
    assert.equal(missing.status, 400);
    assertErrorBody(missing.json, 'PropertyMissing');
  });

  test('a user cannot see or delete another user’s session; an administrator can', async () => {
    const a = await fx.request('POST', '/redfish/v1/SessionService/Sessions', {
      auth: null,
      json: { UserName: READER.username, Password: READER.password },
    });
    const o = await fx.request('POST', '/redfish/v1/SessionService/Sessions', {
      auth: null,
      json: { UserName: OPERATOR.username, Password: OPERATOR.password },
    });
    const readerToken = String(a.headers['x-auth-token']);
    assert.equal((await fx.request('DELETE', o.headers.location!, { token: readerToken })).status, 403);
    const list = await fx.request('GET', '/redfish/v1/SessionService/Sessions', { token: readerToken });
    assert.deepEqual(
      list.json.Members.map((m: { '@odata.id': string }) => m['@odata.id']),
      [a.headers.location],
    );
    assert.equal((await fx.request('DELETE', o.headers.location!)).status, 204);
  });

  test('sessions expire after SessionTimeout idle seconds (401 afterwards) and are bounded', async () => {
    const short = await startRedfish({ server: { sessionTimeoutSeconds: 1, maxSessions: 2 } });
    try {
      const svc = await short.request('GET', '/redfish/v1/SessionService');
      assert.equal(svc.json.SessionTimeout, 1);
      const login = () =>
        short.request('POST', '/redfish/v1/SessionService/Sessions', {
          auth: null,
          json: { UserName: ADMIN.username, Password: ADMIN.password },
        });
      const s1 = await login();
      const s2 = await login();
      assert.equal(s2.status, 201);
      const s3 = await login();
      assert.equal(s3.status, 503);
      assertErrorBody(s3.json, 'SessionLimitExceeded');
      const token = String(s1.headers['x-auth-token']);
      assert.equal((await short.request('GET', SYS, { token })).status, 200);
      // Watch the collection with Basic auth (using the token would keep the session alive).
      await waitFor(
        async () =>
          (await short.request('GET', '/redfish/v1/SessionService/Sessions')).json['Members@odata.count'] ===
          0,
        { timeoutMs: 10_000, intervalMs: 200, what: 'idle sessions to expire' },
      );
      assert.equal(
        (await short.request('GET', SYS, { token })).status,
        401,
        'an expired token is 401 (sushy re-logs in)',
      );
      assert.equal((await login()).status, 201, 'expired sessions free their slots');
    } finally {
      await short.close();
    }
  });
});

describe('accounts and roles', () => {
  test('ReadOnly may read but not act; Operator may act but not read other accounts', async () => {
    const ro = await fx.request('POST', `${SYS}/Actions/ComputerSystem.Reset`, {
      auth: READER,
      json: { ResetType: 'On' },
    });
    assert.equal(ro.status, 403);
    assertErrorBody(ro.json, 'InsufficientPrivilege');
    assert.equal((await fx.request('PATCH', SYS, { auth: READER, json: { Boot: {} } })).status, 403);
    assert.equal((await fx.request('GET', SYS, { auth: READER })).status, 200);
    const op = await fx.request('PATCH', SYS, {
      auth: OPERATOR,
      json: { Boot: { BootSourceOverrideTarget: 'Pxe' } },
    });
    assert.equal(op.status, 200);
    const accounts = await fx.request('GET', '/redfish/v1/AccountService/Accounts', { auth: OPERATOR });
    assert.deepEqual(
      accounts.json.Members.map((m: { '@odata.id': string }) => m['@odata.id']),
      ['/redfish/v1/AccountService/Accounts/2'],
    );
    assert.equal(
      (await fx.request('GET', '/redfish/v1/AccountService/Accounts/1', { auth: OPERATOR })).status,
      403,
    );
    const self = await fx.request('GET', '/redfish/v1/AccountService/Accounts/2', { auth: OPERATOR });
    assert.equal(self.json.RoleId, 'Operator');
    assert.equal(self.json.Password, null);
    const admin = await fx.request('GET', '/redfish/v1/AccountService/Accounts');
    assert.equal(admin.json['Members@odata.count'], 3);
  });

  test('a rotated password takes effect at once', async () => {
    const saved = fx.accounts;
    try {
      fx.accounts = [{ ...ADMIN, password: 'Rotated-1' }, OPERATOR, READER];
      assert.equal((await fx.request('GET', SYS)).status, 401);
      assert.equal(
        (await fx.request('GET', SYS, { auth: { username: 'admin', password: 'Rotated-1' } })).status,
        200,
      );
    } finally {
      fx.accounts = saved;
    }
  });

  test('AccountLockoutThreshold failures: Locked shows it, an address the account used still gets in', async () => {
    const svc = (await fx.request('GET', '/redfish/v1/AccountService')).json;
    assert.equal(svc.AccountLockoutThreshold, 3);
    assert.equal(svc.AccountLockoutDuration, 60, 'one failure forgiven per 60 s');
    assert.equal(svc.AccountLockoutCounterResetAfter, 180, 'all forgiven 3 × 60 s after the last');
    // 127.0.0.1 logs in as reader first, so it is a source the account trusts. (Addresses it does
    // not trust are refused with 503: test/interop/redfish/login-policy.test.ts.)
    assert.equal((await fx.request('GET', SYS, { auth: READER })).status, 200);
    for (let i = 0; i < 3; i++) {
      assert.equal(
        (await fx.request('GET', SYS, { auth: { username: 'reader', password: `bad${i}` } })).status,
        401,
      );
    }
    const acct = await fx.request('GET', '/redfish/v1/AccountService/Accounts/3');
    assert.equal(acct.json.Locked, true);
    assert.equal((await fx.request('GET', SYS, { auth: READER })).status, 200, 'a trusted address');
    // Other accounts are unaffected.
    assert.equal((await fx.request('GET', SYS, { auth: OPERATOR })).status, 200);
    assert.equal((await fx.request('GET', '/redfish/v1/AccountService/Accounts/2')).json.Locked, false);
  });
});

describe('errors from the machine', () => {
  test('ResetType not allowed is 400 ActionParameterValueNotInList; a forbidding state is 409', async () => {
    const bad = await fx.request('POST', `${SYS}/Actions/ComputerSystem.Reset`, {
      json: { ResetType: 'Jump' },
    });
    assert.equal(bad.status, 400);
    assertErrorBody(bad.json, 'ActionParameterValueNotInList');
    const missing = await fx.request('POST', `${SYS}/Actions/ComputerSystem.Reset`);
    assert.equal(missing.status, 400);
    assertErrorBody(missing.json, 'ActionParameterMissing');
    await fx.request('POST', `${SYS}/Actions/ComputerSystem.Reset`, { json: { ResetType: 'ForceOff' } });
    await waitFor(() => fx.machine.getPowerState() === 'Off');
    const conflict = await fx.request('POST', `${SYS}/Actions/ComputerSystem.Reset`, {
      json: { ResetType: 'GracefulRestart' },
    });
    assert.equal(conflict.status, 409);
    assertErrorBody(conflict.json, 'ActionParameterValueConflict');
    assert.equal(fx.machine.getPowerState(), 'Off');
  });
});

describe('logging', () => {
  test('writes are logged with user and outcome; passwords and tokens never are', async () => {
    const lines: string[] = [];
    const { default: pino } = await import('pino');
    const logger = pino({ level: 'debug' }, { write: (l: string) => lines.push(l) });
    const logged = await startRedfish({ server: { logger } });
    try {
      const secret = 'Wr0ng-Secret-42';
      await logged.request('GET', SYS, { auth: { username: 'admin', password: secret } });
      await logged.request('POST', '/redfish/v1/SessionService/Sessions', {
        auth: null,
        json: { UserName: 'admin', Password: secret },
      });
      const ok = await logged.request('POST', '/redfish/v1/SessionService/Sessions', {
        auth: null,
        json: { UserName: ADMIN.username, Password: ADMIN.password },
      });
      const token = String(ok.headers['x-auth-token']);
      await logged.request('POST', `${SYS}/Actions/ComputerSystem.Reset`, {
        token,
        json: { ResetType: 'On' },
      });
      const text = lines.join('');
      assert.match(
        text,
        /"method":"POST","path":"\/redfish\/v1\/Systems\/1\/Actions\/ComputerSystem.Reset","status":204/,
      );
      assert.match(text, /"user":"admin"/);
      for (const s of [secret, ADMIN.password, token, Buffer.from(`admin:${secret}`).toString('base64')]) {
        assert.equal(text.includes(s), false, 'a secret reached the log');
      }
    } finally {
      await logged.close();
    }
  });
});

describe('virtual media', () => {
  const MGR_CD = '/redfish/v1/Managers/BMC/VirtualMedia/Cd';
  const SYS_CD = '/redfish/v1/Systems/1/VirtualMedia/Cd';

  test('a minimal InsertMedia is 202 with a task monitor; progress shows until the image is readable', async () => {
    const media = await startRedfish({ machine: { timings: { mediaInsertMs: 300 } } });
    try {
      const ins = await media.request('POST', `${MGR_CD}/Actions/VirtualMedia.InsertMedia`, {
        json: { Image: 'https://images.example/live.iso' },
      });
      assert.equal(ins.status, 202);
      const monitor = String(ins.headers.location);
      assert.match(monitor, /^\/redfish\/v1\/TaskService\/TaskMonitors\/\d+$/);
      assert.equal(ins.json.TaskState, 'Running');
      // The same slot, seen from the System, shows the insert in progress.
      const during = (await media.request('GET', SYS_CD)).json;
      assert.equal(during.Image, 'https://images.example/live.iso');
      assert.equal(during.Inserted, true);
      assert.equal(during.TransferProtocolType, 'HTTPS');
      assert.equal(during.Status.State, 'Updating');
      assert.equal(during.Oem.KubeVirt.MediaState, 'Inserting');
      assert.equal((await media.request('GET', monitor)).status, 202);
      await waitFor(async () => (await media.request('GET', monitor)).status === 204, {
        timeoutMs: 5000,
        intervalMs: 50,
        what: 'the task monitor to finish',
      });
      const task = (await media.request('GET', ins.json['@odata.id'])).json;
      assert.equal(task.TaskState, 'Completed');
      assert.equal(task.PercentComplete, 100);
      const done = (await media.request('GET', MGR_CD)).json;
      assert.equal(done.Status.State, 'Enabled');
      assert.equal(done.Oem.KubeVirt.PercentComplete, 100);
      assert.equal(done.ConnectedVia, 'URI');
      assert.equal(
        (await media.request('GET', '/redfish/v1/TaskService/Tasks')).json['Members@odata.count'],
        1,
      );
    } finally {
      await media.close();
    }
  });

  test('a failing image ends the task in Exception and the slot reports it', async () => {
    const ins = await fx.request('POST', `${SYS_CD}/Actions/VirtualMedia.InsertMedia`, {
      json: { Image: 'http://images.invalid/missing.iso', Inserted: true, WriteProtected: true },
    });
    assert.equal(ins.status, 202);
    const monitor = String(ins.headers.location);
    await waitFor(async () => (await fx.request('GET', monitor)).status >= 400, { what: 'the failure' });
    const final = await fx.request('GET', monitor);
    assert.equal(final.status, 500);
    assert.ok(final.json.error);
    const slot = (await fx.request('GET', SYS_CD)).json;
    assert.equal(slot.Inserted, false);
    assert.equal(slot.Status.Health, 'Critical');
    assert.equal(slot.Oem.KubeVirt.MediaState, 'Failed');
    assert.equal((await fx.request('GET', ins.json['@odata.id'])).json.TaskState, 'Exception');
  });

  test('EjectMedia accepts no body and no Content-Type, or {}', async () => {
    await fx.request('POST', `${MGR_CD}/Actions/VirtualMedia.InsertMedia`, {
      json: { Image: 'http://x.example/1.iso' },
    });
    const bare = await fx.request('POST', `${MGR_CD}/Actions/VirtualMedia.EjectMedia`);
    assert.equal(bare.status, 204);
    assert.equal(fx.machine.getMediaSlots()[0]?.state, 'Empty');
    const empty = await fx.request('POST', `${SYS_CD}/Actions/VirtualMedia.EjectMedia`, { json: {} });
    assert.equal(empty.status, 204, 'ejecting an empty slot is fine');
  });

  test('PATCH inserts and ejects (sushy and Lenovo-style clients)', async () => {
    const etag = (await fx.request('GET', SYS_CD)).headers.etag!;
    const ins = await fx.request('PATCH', SYS_CD, {
      json: { Image: 'http://x.example/patch.iso', Inserted: true, WriteProtected: true },
      headers: { 'If-Match': etag },
    });
    assert.ok([200, 202].includes(ins.status));
    assert.equal(fx.machine.getMediaSlots()[0]?.image, 'http://x.example/patch.iso');
    const ej = await fx.request('PATCH', MGR_CD, { json: { Image: null, Inserted: false } });
    assert.equal(ej.status, 200);
    assert.equal(ej.json.Inserted, false);
    assert.equal(ej.json.Image, null);
  });

  test('bad InsertMedia requests are 400 with the Base message sushy looks for, and change nothing', async () => {
    const target = `${MGR_CD}/Actions/VirtualMedia.InsertMedia`;
    const missing = await fx.request('POST', target, { json: {} });
    assert.equal(missing.status, 400);
    assertErrorBody(missing.json, 'ActionParameterMissing');
    const mismatch = await fx.request('POST', target, {
      json: { Image: 'http://x.example/a.iso', TransferProtocolType: 'HTTPS' },
    });
    assert.equal(mismatch.status, 400);
    const nfs = await fx.request('POST', target, { json: { Image: 'nfs://x.example/a.iso' } });
    assert.equal(nfs.status, 400);
    const writable = await fx.request('POST', target, {
      json: { Image: 'http://x.example/a.iso', WriteProtected: false },
    });
    assert.equal(writable.status, 400, 'a CD-ROM is read-only');
    assert.equal(fx.machine.getMediaSlots()[0]?.state, 'Empty');
  });

  test('a machine without a CD-ROM advertises no virtual media', async () => {
    const bare = await startRedfish({ machine: { hasCdrom: false } });
    try {
      const sys = (await bare.request('GET', SYS)).json;
      assert.equal('VirtualMedia' in sys, false);
      assert.equal(sys.Boot['BootSourceOverrideTarget@Redfish.AllowableValues'].includes('Cd'), false);
      assert.equal('VirtualMedia' in (await bare.request('GET', '/redfish/v1/Managers/BMC')).json, false);
    } finally {
      await bare.close();
    }
  });
});

describe('boot mode and secure boot', () => {
  test('Legacy while secure boot is on is 409 PropertyValueConflict and changes nothing', async () => {
    const m = await startRedfish({ machine: { bootMode: 'UEFI' } });
    try {
      const on = await m.request('PATCH', `${SYS}/SecureBoot`, { json: { SecureBootEnable: true } });
      assert.equal(on.status, 200);
      assert.equal(on.json.SecureBootEnable, true);
      const r = await m.request('PATCH', SYS, { json: { Boot: { BootSourceOverrideMode: 'Legacy' } } });
      assert.equal(r.status, 409);
      assertErrorBody(r.json, 'PropertyValueConflict');
      assert.equal(m.machine.getBootOverride().mode, 'UEFI');
      const bad = await m.request('PATCH', `${SYS}/SecureBoot`, { json: { SecureBootEnable: 'yes' } });
      assert.equal(bad.status, 400);
      assertErrorBody(bad.json, 'PropertyValueTypeError');
      const ro = await m.request('PATCH', `${SYS}/SecureBoot`, {
        json: { SecureBootCurrentBoot: 'Enabled' },
      });
      assert.equal(ro.status, 400);
      assertErrorBody(ro.json, 'PropertyNotWritable');
      await m.request('PATCH', `${SYS}/SecureBoot`, { json: { SecureBootEnable: false } });
      const legacy = await m.request('PATCH', SYS, { json: { Boot: { BootSourceOverrideMode: 'Legacy' } } });
      assert.equal(legacy.json.Boot.BootSourceOverrideMode, 'Legacy', 'read back in the PATCH answer');
      const sb = await m.request('PATCH', `${SYS}/SecureBoot`, { json: { SecureBootEnable: true } });
      assert.equal(sb.status, 409, 'secure boot needs UEFI');
      assert.equal(m.machine.getSecureBoot().enabled, false);
    } finally {
      await m.close();
    }
  });
});

describe('reset types', () => {
  test('ResetType@Redfish.AllowableValues lists exactly the machine’s actions; Nmi absent without NMI', async () => {
    const noNmi = await startRedfish({ machine: { supportsNmi: false, power: 'On' } });
    try {
      const sys = (await noNmi.request('GET', SYS)).json;
      const allowed = sys.Actions['#ComputerSystem.Reset']['ResetType@Redfish.AllowableValues'];
      assert.deepEqual(allowed, [
        'On',
        'ForceOff',
        'GracefulShutdown',
        'GracefulRestart',
        'ForceRestart',
        'PowerCycle',
        'Pause',
        'Resume',
      ]);
      const nmi = await noNmi.request('POST', `${SYS}/Actions/ComputerSystem.Reset`, {
        json: { ResetType: 'Nmi' },
      });
      assert.equal(nmi.status, 400);
      assert.equal(noNmi.machine.nmiCount, 0);
      const info = (await noNmi.request('GET', `${SYS}/ResetActionInfo`)).json;
      assert.deepEqual(info.Parameters[0].AllowableValues, allowed);
    } finally {
      await noNmi.close();
    }
  });
});

describe('malformed traffic', () => {
  test('garbage, oversized headers and bad paths get an answer (or a close), and the service keeps serving', async () => {
    const garbage = await rawExchange(
      fx.port,
      '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n',
    );
    assert.match(garbage, /^HTTP\/1\.1 400 /);
    const huge = await rawExchange(
      fx.port,
      `GET ${SYS} HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    assert.match(huge, /^HTTP\/1\.1 431 /);
    const traversal = await fx.request('GET', '/redfish/v1/Systems/../AccountService');
    assert.equal(traversal.status, 404);
    const badEscape = await fx.request('GET', '/redfish/v1/Systems/%E0%A4%A');
    assert.equal(badEscape.status, 404);
    for (let i = 0; i < 20; i++) {
      await rawExchange(fx.port, `${'\x00'.repeat(i)}PATCH ${SYS} HTTP/1.1\r\nContent-Length: 5\r\n\r\n{"Bo`);
    }
    assert.equal((await fx.request('GET', SYS)).status, 200);
  });
});
