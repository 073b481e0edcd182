// Which requests go to a proxy: NO_PROXY as Go's golang.org/x/net/http/httpproxy (kubectl's) reads
// it, the environment variables by scheme and case, and kubeconfig proxy-url winning over them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProxyConfigError, parseProxyUrl, proxyFor, useProxy } from '../../../src/kube/proxy.ts';

describe('NO_PROXY', () => {
  test('empty: everything is proxied except localhost and loopback addresses', () => {
    assert.equal(useProxy('api.example.com', 443, ''), true);
    assert.equal(useProxy('10.1.2.3', 6443, ''), true);
    assert.equal(useProxy('localhost', 6443, ''), false);
    assert.equal(useProxy('LOCALHOST', 6443, ''), false);
    assert.equal(useProxy('127.0.0.1', 6443, ''), false);
    assert.equal(useProxy('127.9.8.7', 6443, ''), false);
    assert.equal(useProxy('::1', 6443, ''), false);
    assert.equal(useProxy('[::1]', 6443, ''), false);
    assert.equal(useProxy('::ffff:127.0.0.1', 6443, ''), false);
    // a name that resolves to loopback is still proxied (Go looks at the literal host)
    assert.equal(useProxy('ip6-localhost', 6443, ''), true);
  });

  test('*: nothing is proxied', () => {
    assert.equal(useProxy('api.example.com', 443, '*'), false);
    assert.equal(useProxy('10.1.2.3', 443, ' * '), false);
    assert.equal(useProxy('10.1.2.3', 443, 'foo.com,*'), false);
  });

  test('a host name matches itself and its subdomains, not names that merely end alike', () => {
    const np = 'example.com';
    assert.equal(useProxy('example.com', 443, np), false);
    assert.equal(useProxy('api.example.com', 443, np), false);
    assert.equal(useProxy('a.b.example.com', 443, np), false);
    assert.equal(useProxy('badexample.com', 443, np), true);
    assert.equal(useProxy('example.com.evil.org', 443, np), true);
    assert.equal(useProxy('EXAMPLE.COM', 443, np), false);
    assert.equal(useProxy('example.com.', 443, np), false);
  });

  test('a leading dot or *. matches subdomains only', () => {
    for (const np of ['.example.com', '*.example.com']) {
      assert.equal(useProxy('api.example.com', 443, np), false, np);
      assert.equal(useProxy('example.com', 443, np), true, np);
      assert.equal(useProxy('badexample.com', 443, np), true, np);
    }
  });

  test('host:port matches only that port', () => {
    assert.equal(useProxy('api.example.com', 6443, 'example.com:6443'), false);
    assert.equal(useProxy('api.example.com', 443, 'example.com:6443'), true);
    assert.equal(useProxy('10.0.0.5', 6443, '10.0.0.5:6443'), false);
    assert.equal(useProxy('10.0.0.5', 443, '10.0.0.5:6443'), true);
    assert.equal(useProxy('fd00::5', 6443, '[fd00::5]:6443'), false);
    assert.equal(useProxy('fd00::5', 443, '[fd00::5]:6443'), true);
  });

  test('IP addresses and CIDR ranges, IPv4 and IPv6', () => {
    assert.equal(useProxy('10.96.0.1', 443, '10.96.0.1'), false);
    assert.equal(useProxy('10.96.0.2', 443, '10.96.0.1'), true);
    assert.equal(useProxy('10.96.0.1', 443, '10.96.0.0/12'), false);
    assert.equal(useProxy('10.111.255.255', 443, '10.96.0.0/12'), false);
    assert.equal(useProxy('10.112.0.0', 443, '10.96.0.0/12'), true);
    assert.equal(useProxy('192.168.1.1', 443, '0.0.0.0/0'), false);
    assert.equal(useProxy('fd00::1:2', 443, 'fd00::/64'), false);
    assert.equal(useProxy('fd00:0:0:1::2', 443, 'fd00::/64'), true);
    assert.equal(useProxy('[2001:db8::1]', 443, '2001:db8::1'), false);
    assert.equal(useProxy('2001:db8:0:0:0:0:0:1', 443, '2001:db8::1'), false);
    // an IP rule never matches a name, a name rule never an unrelated IP
    assert.equal(useProxy('api.example.com', 443, '10.0.0.0/8'), true);
    assert.equal(useProxy('10.1.1.1', 443, 'example.com'), true);
  });

  test('lists: spaces, empty entries and case are ignored; any match exempts', () => {
    const np = ' Foo.ORG , ,10.0.0.0/8,  .svc,kubernetes ';
    assert.equal(useProxy('bar.foo.org', 443, np), false);
    assert.equal(useProxy('10.2.3.4', 443, np), false);
    assert.equal(useProxy('kubernetes.default.svc', 443, np), false);
    assert.equal(useProxy('kubernetes', 443, np), false);
    assert.equal(useProxy('api.example.com', 443, np), true);
  });
});

describe('the proxy for a server', () => {
  const https = new URL('https://api.example.com:6443');
  const http = new URL('http://api.example.com:8080');

  test('HTTPS_PROXY for https servers, HTTP_PROXY for http ones; upper case before lower case', () => {
    const env = { HTTPS_PROXY: 'http://secure-proxy:3128', HTTP_PROXY: 'http://plain-proxy:3128' };
    assert.equal(proxyFor(https, undefined, env)?.href, 'http://secure-proxy:3128/');
    assert.equal(proxyFor(http, undefined, env)?.href, 'http://plain-proxy:3128/');
    assert.equal(proxyFor(https, undefined, { https_proxy: 'http://lower:1' })?.host, 'lower:1');
    assert.equal(
      proxyFor(https, undefined, { HTTPS_PROXY: 'http://upper:1', https_proxy: 'http://lower:1' })?.host,
      'upper:1',
    );
    assert.equal(proxyFor(https, undefined, { HTTP_PROXY: 'http://plain:1' }), undefined);
    assert.equal(proxyFor(https, undefined, {}), undefined);
  });

  test('NO_PROXY and no_proxy exempt; loopback servers are never proxied from the environment', () => {
    const env = { HTTPS_PROXY: 'http://proxy:3128' };
    assert.equal(proxyFor(https, undefined, { ...env, NO_PROXY: '.example.com' }), undefined);
    assert.equal(proxyFor(https, undefined, { ...env, no_proxy: 'example.com' }), undefined);
    assert.equal(proxyFor(https, undefined, { ...env, NO_PROXY: 'example.com:443' })?.host, 'proxy:3128');
    assert.equal(proxyFor(new URL('https://127.0.0.1:6443'), undefined, env), undefined);
    assert.equal(proxyFor(new URL('https://localhost:6443'), undefined, env), undefined);
  });

  test("a kubeconfig's proxy-url wins over the environment and NO_PROXY, loopback included", () => {
    const env = { HTTPS_PROXY: 'http://env-proxy:3128', NO_PROXY: '*' };
    assert.equal(proxyFor(https, 'http://kc-proxy:8888', env)?.host, 'kc-proxy:8888');
    assert.equal(
      proxyFor(new URL('https://127.0.0.1:6443'), 'http://kc-proxy:8888', {})?.host,
      'kc-proxy:8888',
    );
  });

  test('proxy URLs: a missing scheme means http; https allowed; credentials kept; socks5 refused', () => {
    assert.equal(parseProxyUrl('proxy.corp:3128').href, 'http://proxy.corp:3128/');
    assert.equal(parseProxyUrl('10.0.0.1:3128').href, 'http://10.0.0.1:3128/');
    assert.equal(parseProxyUrl('https://proxy.corp').protocol, 'https:');
    const withAuth = parseProxyUrl('http://user:p%40ss@proxy.corp:3128');
    assert.equal(withAuth.username, 'user');
    assert.equal(decodeURIComponent(withAuth.password), 'p@ss');
    assert.throws(() => parseProxyUrl('socks5://proxy.corp:1080'), ProxyConfigError);
    assert.throws(() => parseProxyUrl('ftp://proxy.corp'), /unsupported scheme/);
  });
});
