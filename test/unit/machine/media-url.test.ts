import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isMachineError, parseMediaUrl } from '../../../src/machine/index.ts';

test('http and https URLs are accepted and credentials stripped', () => {
  assert.deepEqual(parseMediaUrl('https://u:p@host.example:8443/path/boot%20me.iso?x=1'), {
    redacted: 'https://host.example:8443/path/boot%20me.iso?x=1',
    protocol: 'HTTPS',
    imageName: 'boot me.iso',
  });
  assert.equal(parseMediaUrl('http://10.0.0.1/a.iso').protocol, 'HTTP');
});

test('other schemes, junk and over-long URLs are InvalidArgument', () => {
  for (const bad of [
    'ftp://h/a.iso',
    'nfs://h/a.iso',
    'file:///a.iso',
    'a.iso',
    '',
    `http://h/${'a'.repeat(2050)}`,
  ]) {
    assert.throws(
      () => parseMediaUrl(bad),
      (err) => isMachineError(err) && err.code === 'InvalidArgument',
      bad,
    );
  }
});
