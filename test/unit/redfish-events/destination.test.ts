import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DestinationGuard,
  DestinationPolicyError,
  embeddedIpv4,
  formatIp,
  normaliseHost,
  parseRule,
} from '../../../src/redfish/events/destination.ts';

/**
 * The destination normaliser and policy: every spelling of an address comes to one canonical form
 * before it is judged, the service's own listeners are refused whatever the configuration, and
 * the most specific rule decides for everything else.
 */
const canonical = (host: string) => {
  const n = normaliseHost(host);
  return n.kind === 'ip' ? n.address : n.kind === 'name' ? `name:${n.name}` : 'invalid';
};

describe('normaliseHost', () => {
  test('every spelling of 127.0.0.1 becomes 127.0.0.1', () => {
    for (const form of [
      '127.0.0.1',
      '[::ffff:127.0.0.1]',
      '::ffff:127.0.0.1',
      '[0:0:0:0:0:ffff:7f00:1]',
      '[::ffff:7f00:1]',
      '[0000:0000:0000:0000:0000:FFFF:7F00:0001]',
      '2130706433', // decimal
      '0177.0.0.1', // octal
      '0177.0000.0000.0001',
      '017700000001',
      '0x7f.0.0.1', // hex
      '0x7F.0x0.0x0.0x1',
      '0x7f000001',
      '0x7f.1', // short forms
      '127.1',
      '127.0.1',
      '127.0.0.1.', // trailing dot
      '2130706433.',
    ]) {
      assert.equal(canonical(form), '127.0.0.1', form);
    }
  });

  test('other addresses: IPv6 in RFC 5952 form, mapped IPv4 unmapped, zones dropped', () => {
    assert.equal(canonical('[::1]'), '::1');
    assert.equal(canonical('0:0:0:0:0:0:0:1'), '::1');
    assert.equal(canonical('[::]'), '::');
    assert.equal(canonical('[fe80::1%eth0]'), 'fe80::1');
    assert.equal(canonical('2001:0DB8:0000:0000:0001:0000:0000:0001'), '2001:db8::1:0:0:1');
    assert.equal(canonical('[::ffff:169.254.169.254]'), '169.254.169.254');
    assert.equal(canonical('[::ffff:a9fe:a9fe]'), '169.254.169.254');
    assert.equal(canonical('0xa9fea9fe'), '169.254.169.254');
    assert.equal(canonical('10.1'), '10.0.0.1');
    assert.equal(canonical('0'), '0.0.0.0');
  });

  test('names are lower-cased without their trailing dot; broken addresses are invalid', () => {
    assert.equal(canonical('LocalHost.'), 'name:localhost');
    assert.equal(canonical('Receiver.Example.'), 'name:receiver.example');
    assert.equal(canonical('1.2.3.256'), 'invalid');
    assert.equal(canonical('256.1'), 'invalid');
    assert.equal(canonical('1.2.3.4.5'), 'invalid');
    assert.equal(canonical('08.1.1.1'), 'invalid', '8 is not an octal digit');
    assert.equal(canonical('[::ffff:1.2.3]'), 'invalid');
    assert.equal(canonical('[1::2::3]'), 'invalid');
  });

  test('the IPv4 address other IPv6 forms carry', () => {
    const embedded = (h: string) => {
      const n = normaliseHost(h);
      assert.equal(n.kind, 'ip', h);
      const e = n.kind === 'ip' ? embeddedIpv4(n.ip) : null;
      return e ? formatIp(e) : null;
    };
    assert.equal(embedded('::127.0.0.1'), '127.0.0.1', 'IPv4-compatible');
    assert.equal(embedded('::ffff:0:7f00:1'), '127.0.0.1', 'SIIT');
    assert.equal(embedded('64:ff9b::7f00:1'), '127.0.0.1', 'NAT64');
    assert.equal(embedded('2002:7f00:1::'), '127.0.0.1', '6to4');
    assert.equal(embedded('::1'), null);
    assert.equal(embedded('::'), null);
    assert.equal(embedded('2001:db8::1'), null);
  });
});

describe('DestinationGuard', () => {
  const OWN = 18080;
  const guard = (options: ConstructorParameters<typeof DestinationGuard>[0] = {}) => {
    const g = new DestinationGuard({ kubernetesApi: [], ...options });
    g.addListener(OWN);
    return g;
  };
  const verdict = (g: DestinationGuard, address: string, port: number) => {
    const v = g.checkAddress(address, port);
    return v.ok ? 'ok' : v.kind;
  };

  test('the service itself is refused in every spelling, even when everything is allowed', () => {
    const open = guard({ allow: ['0.0.0.0/0', '::/0', '127.0.0.0/8'] });
    for (const form of [
      '127.0.0.1',
      '127.0.0.2',
      '::ffff:127.0.0.1',
      '0:0:0:0:0:ffff:7f00:1',
      '2130706433',
      '0177.0.0.1',
      '0x7f.1',
      '127.1',
      '::1',
      '::',
      '0.0.0.0',
      '::127.0.0.1',
      '::ffff:0:7f00:1',
      '64:ff9b::7f00:1',
    ]) {
      assert.equal(verdict(open, form, OWN), 'self', form);
    }
    assert.equal(verdict(open, '127.0.0.1', OWN + 1), 'ok', 'another loopback port, allowed here');
  });

  test('default rules: this host, link-local and cloud metadata refused; private and public allowed', () => {
    const g = guard({ kubernetesApi: ['10.96.0.1'] });
    for (const a of [
      '127.0.0.1',
      '::ffff:127.0.0.1',
      '2130706433',
      '::1',
      '0.0.0.0',
      '169.254.169.254',
      '::ffff:169.254.169.254',
      '169.254.1.1',
      'fe80::1',
      'fd00:ec2::254',
      '100.100.100.200',
      '224.0.0.1',
      '255.255.255.255',
      '10.96.0.1', // the Kubernetes API
    ]) {
      assert.equal(verdict(g, a, 9000), 'policy', a);
    }
    for (const a of [
      '10.0.0.5',
      '172.16.3.4',
      '192.168.1.20',
      '100.64.0.1',
      'fd12::5',
      '198.51.100.7',
      '::ffff:10.0.0.5',
    ])
      assert.equal(verdict(g, a, 9000), 'ok', a);
  });

  test('the Kubernetes API: a whole address, or an address and port', () => {
    const g = guard({
      kubernetesApi: ['10.96.0.1', '10.0.0.9:80', '[fd00::9]:6443', 'api.cluster.example:6443'],
    });
    assert.equal(verdict(g, '10.96.0.1', 8080), 'policy');
    assert.equal(verdict(g, '10.0.0.9', 80), 'policy');
    assert.equal(verdict(g, '10.0.0.9', 81), 'ok');
    assert.equal(verdict(g, 'fd00::9', 6443), 'policy');
    assert.equal(verdict(g, 'fd00::9', 6444), 'ok');
  });

  test('the most specific rule decides; the administrator beats a built-in rule of the same length', () => {
    const g = guard({
      allow: ['127.0.0.1:9000', '169.254.0.0/16', '[::1]:9001'],
      deny: ['10.96.0.0/12', '0.0.0.0/0', '192.168.7.0/24'],
    });
    assert.equal(verdict(g, '127.0.0.1', 9000), 'ok', 'allowed with its port');
    assert.equal(verdict(g, '::ffff:127.0.0.1', 9000), 'ok', 'the same address in another spelling');
    assert.equal(verdict(g, '127.0.0.1', 9002), 'policy', 'other ports stay refused');
    assert.equal(verdict(g, '::1', 9001), 'ok');
    assert.equal(verdict(g, '169.254.10.1', 80), 'ok', 'link-local allowed');
    assert.equal(verdict(g, '169.254.169.254', 80), 'policy', 'metadata is more specific than the allow');
    assert.equal(verdict(g, '10.96.0.1', 443), 'policy', 'deny list');
    assert.equal(verdict(g, '203.0.113.9', 80), 'policy', 'deny 0.0.0.0/0 beats the default allow');
    const mgmt = guard({ deny: ['0.0.0.0/0'], allow: ['10.20.0.0/16'] });
    assert.equal(verdict(mgmt, '10.20.5.5', 80), 'ok', 'only the management network');
    assert.equal(verdict(mgmt, '10.21.5.5', 80), 'policy');
    assert.equal(verdict(mgmt, '127.0.0.1', OWN), 'self');
    const hole = guard({ allow: ['10.0.0.0/8'], deny: ['10.0.0.5'] });
    assert.equal(verdict(hole, '10.0.0.5', 80), 'policy');
    assert.equal(verdict(hole, '10.0.0.6', 80), 'ok');
  });

  test('embedded IPv4 is judged too', () => {
    const g = guard();
    assert.equal(verdict(g, '64:ff9b::a9fe:a9fe', 80), 'policy', 'NAT64 to the metadata service');
    assert.equal(verdict(g, '::127.0.0.1', 80), 'policy');
    assert.equal(verdict(g, '64:ff9b::a00:5', 80), 'ok', 'NAT64 to 10.0.0.5');
  });

  test('names: localhost never looked up; every address a name resolves to must pass', async () => {
    const answers = new Map<string, string[]>([
      ['mapped.test', ['::ffff:127.0.0.1']],
      ['mixed.test', ['10.0.0.7', '127.0.0.1']],
      ['meta.test', ['169.254.169.254']],
      ['good.test', ['10.0.0.7', 'fd12::7']],
    ]);
    const g = guard({
      lookup: async (name) => {
        const a = answers.get(name);
        if (!a) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
        return a;
      },
    });
    const check = async (url: string) => {
      const v = await g.check(new URL(url));
      return v.ok ? `ok ${v.address}` : v.kind;
    };
    assert.equal(await check(`http://localhost.:${OWN}/`), 'self');
    assert.equal(await check(`http://LOCALHOST:${OWN}/`), 'self');
    assert.equal(await check('http://bmc.localhost:9000/'), 'policy');
    assert.equal(await check(`http://mapped.test:${OWN}/`), 'self');
    assert.equal(await check('http://mapped.test:9000/'), 'policy');
    assert.equal(await check('http://mixed.test:9000/'), 'policy', 'one refused address refuses the name');
    assert.equal(await check('http://meta.test/latest/meta-data/'), 'policy');
    assert.equal(await check('http://good.test:9000/'), 'ok 10.0.0.7');
    assert.equal(await check('http://missing.test/'), 'unresolved');
    assert.equal(await check(`http://[::ffff:127.0.0.1]:${OWN}/`), 'self');
    assert.equal(await check(`http://2130706433:${OWN}/`), 'self');
    const slow = guard({ lookup: () => new Promise(() => undefined), lookupTimeoutMs: 50 });
    const v = await slow.check(new URL('http://slow.test/'));
    assert.ok(!v.ok && v.kind === 'unresolved' && /ETIMEOUT/.test(v.reason));
  });

  test('declared endpoints (a Service address) are the service too, in any spelling', () => {
    const g = guard();
    g.addEndpoint('10.96.0.12:80');
    assert.equal(verdict(g, '10.96.0.12', 80), 'self');
    assert.equal(verdict(g, '::ffff:10.96.0.12', 80), 'self');
    assert.equal(verdict(g, '10.96.0.12', 81), 'ok');
  });

  test('bad rules are refused with what to change', () => {
    const cases: [string, RegExp][] = [
      ['bmc.example', /not a name/],
      ['10.0.0.1/8', /did you mean 10\.0\.0\.0\/8/],
      ['10.0.0.0/33', /prefix length must be 0-32/],
      ['010.0.0.1', /dotted decimal/],
      ['2130706433', /dotted decimal/],
      ['127.0.0.1:0', /port must be 1-65535/],
      ['[::1]:70000', /port must be 1-65535/],
      ['127.0.0.1:http', /port must be a number/],
      ['fe80::/129', /prefix length must be 0-128/],
    ];
    for (const [text, why] of cases) {
      assert.throws(
        () => parseRule(text, 'allow', 'allow list'),
        (e: Error) => {
          assert.ok(e instanceof DestinationPolicyError, text);
          assert.match(e.message, why, text);
          assert.ok(e.message.includes(text), 'the message names the rule');
          return true;
        },
      );
    }
    assert.throws(() => new DestinationGuard({ deny: ['nope'] }), DestinationPolicyError);
    assert.equal(parseRule('[::ffff:10.0.0.0/104]:443', 'deny', 'deny list').prefix, 8);
  });
});
