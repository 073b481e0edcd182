import assert from 'node:assert/strict';
import { test } from 'node:test';
import { md5AuthCode } from '../../../src/ipmi/crypto/auth15.ts';
import { decryptPayload, encryptedLength, encryptPayloadInto } from '../../../src/ipmi/crypto/packet.ts';
import {
  deriveKeys,
  type RakpInputs,
  rakp2AuthCode,
  rakp3AuthCode,
  rakp4Icv,
  sessionIntegrityKey,
} from '../../../src/ipmi/crypto/rakp.ts';
import { cipherSuiteRecords, matchSuite } from '../../../src/ipmi/crypto/suites.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const password = Buffer.from('password');

// Verified RAKP vectors (from ipmitool -vvvv; user admin, password `password`, role 0x14).
const VECTORS = [
  {
    name: 'suite 3 (HMAC-SHA1)',
    inputs: {
      hash: 'sha1',
      consoleSessionId: 0xa0a2a3a4,
      bmcSessionId: hex('cfd25f5b').readUInt32LE(0),
      rm: hex('35f7afb61835bdebaa4ffb299ba10a6b'),
      rc: hex('ec2a63a2358d299a0de94442921e91b3'),
      guid: hex('18b7b8354e9e42dfb3296c745b4d207b'),
      role: 0x14,
      username: Buffer.from('admin'),
    },
    rakp2: 'f01beba065a50a141a6cbdf3589487d798e76790',
    rakp3: '1ec49036d38c3eab84f5b8e9eefbd261e79f53d7',
    sik: 'c7a7c0e3070ff071acc45983b43d47da7ef31a6d',
    k1: '3d3b59bbb4080cc56e404fbc68e8bc1672cdf6b1',
    k2: '9bface8e9699f5c1a911ab2cbeb6cf98d6058ef0',
    icv: '062a7dde65ef203fdfeb3a7b',
  },
  {
    name: 'suite 17 (HMAC-SHA256)',
    inputs: {
      hash: 'sha256',
      consoleSessionId: 0xa0a2a3a4,
      bmcSessionId: hex('b12bac77').readUInt32LE(0),
      rm: hex('ca941557aca89f89acac7d7472b41879'),
      rc: hex('dd407d0ba59e3a133a83bcc53ef7ddf2'),
      guid: hex('00112233445566778899aabbccddeeff'),
      role: 0x14,
      username: Buffer.from('admin'),
    },
    rakp2: '1783b87b17e1682960fa85c059e83eb26325796758e20cf338be0d12be5062d2',
    rakp3: '5c1485ad212468c994b2b91151563345f74a177606fdfc5d80d5bcf9dc5f324a',
    sik: '3418242ce11a9504557adb827b5477a702523fa64462bc75e3be7258db61b5a4',
    k1: '14eb42b8ef1bfa650f1f8821ee979f2c22e6845b01f3ff71b38b9f9061ef0b5a',
    k2: 'd6b95dea9482f8caa6dc902e265960c8a09517827466ab817363abed8ad4a8ae',
    icv: '2ccf4aa95b73169359ed66766772dbb7',
  },
] as const;

for (const v of VECTORS) {
  test(`RAKP test vectors, ${v.name}`, () => {
    const i = v.inputs as RakpInputs;
    assert.equal(rakp2AuthCode(password, i).toString('hex'), v.rakp2);
    assert.equal(rakp3AuthCode(password, i).toString('hex'), v.rakp3);
    const sik = sessionIntegrityKey(password, i);
    assert.equal(sik.toString('hex'), v.sik);
    const { k1, k2 } = deriveKeys(i.hash, sik);
    assert.equal(k1.toString('hex'), v.k1);
    assert.equal(k2.toString('hex'), v.k2);
    assert.equal(rakp4Icv(sik, i).toString('hex'), v.icv);
    // Keying with the password zero-padded to 20 bytes (what ipmitool does) gives the same HMAC.
    const padded = Buffer.alloc(20);
    password.copy(padded);
    assert.equal(rakp2AuthCode(padded, i).toString('hex'), v.rakp2);
  });
}

test('IPMI 1.5 MD5 auth code covers password, session ID, message, sequence, password', () => {
  const msg = hex('2018c88104017a');
  const a = md5AuthCode(password, 0x11223344, 5, msg);
  assert.equal(a.length, 16);
  assert.notDeepEqual(a, md5AuthCode(password, 0x11223344, 6, msg));
  assert.notDeepEqual(a, md5AuthCode(Buffer.from('Password'), 0x11223344, 5, msg));
  assert.deepEqual(a, md5AuthCode(password, 0x11223344, 5, msg));
});

test('AES-CBC-128 confidentiality pad is 01..n n, never PKCS#7, and decrypts back', () => {
  const key = Buffer.alloc(16, 9);
  for (let len = 0; len < 40; len++) {
    const payload = Buffer.alloc(len, 0x5a);
    const out = Buffer.alloc(encryptedLength(len));
    const n = encryptPayloadInto(key, Buffer.alloc(16, 1), payload, out, 0);
    assert.equal(n, out.length);
    assert.equal((n - 16) % 16, 0);
    assert.deepEqual(decryptPayload(key, out), payload);
  }
  assert.equal(decryptPayload(key, Buffer.alloc(31)), null);
});

test('cipher suites: exact matches only, suite 0 and mismatched families refused', () => {
  assert.equal((matchSuite(1, 1, 1) as { id: number }).id, 3);
  assert.equal((matchSuite(3, 4, 1) as { id: number }).id, 17);
  assert.equal((matchSuite(1, 0, 0) as { id: number }).id, 1);
  assert.equal((matchSuite(3, 0, 0) as { id: number }).id, 15);
  assert.equal(matchSuite(0, 0, 0), 0x04); // suite 0: invalid authentication algorithm
  assert.equal(matchSuite(2, 2, 1), 0x04); // MD5 family not offered
  assert.equal(matchSuite(1, 4, 1), 0x11); // SHA1 auth with SHA256 integrity
  assert.equal(matchSuite(1, 1, 2), 0x10); // xRC4
  assert.equal(matchSuite(1, 1, 0x3f), 0x10);
  assert.deepEqual(
    cipherSuiteRecords(),
    hex('c001014080 c002014180 c003014181 c00f034080 c010034480 c011034481'),
  );
});

test('the per-session fast path (ECB + manual CBC, precomputed HMAC pads) equals aes-128-cbc and createHmac', async () => {
  const { createHmac, randomBytes } = await import('node:crypto');
  const { integrityCode } = await import('../../../src/ipmi/crypto/packet.ts');
  for (const hash of ['sha1', 'sha256'] as const) {
    const keys = {
      integrityHash: hash,
      authCodeLength: hash === 'sha1' ? 12 : 16,
      k1: randomBytes(hash === 'sha1' ? 20 : 32),
      aesKey: randomBytes(16),
    };
    for (let len = 0; len < 70; len++) {
      const payload = randomBytes(len);
      const iv = randomBytes(16);
      const fast = Buffer.alloc(encryptedLength(len));
      const slow = Buffer.alloc(encryptedLength(len));
      encryptPayloadInto(keys.aesKey, iv, payload, fast, 0, keys);
      encryptPayloadInto(keys.aesKey, iv, payload, slow, 0);
      assert.deepEqual(fast, slow, `encrypt ${len}`);
      assert.deepEqual(decryptPayload(keys.aesKey, fast, keys), payload, `decrypt ${len}`);
      assert.deepEqual(decryptPayload(keys.aesKey, fast), payload);
      const bytes = randomBytes(len + 12);
      assert.deepEqual(
        integrityCode(keys, bytes),
        createHmac(hash, keys.k1).update(bytes).digest().subarray(0, keys.authCodeLength),
        `hmac ${len}`,
      );
    }
  }
});
