import { createHash } from 'node:crypto';

/** IPMI 1.5 auth codes. `P16` is the password zero-padded (or truncated) to 16 bytes. */
export function pad16(password: Uint8Array): Buffer {
  const out = Buffer.alloc(16);
  out.set(password.subarray(0, 16));
  return out;
}

/** MD5(P16 ‖ SID ‖ MSG ‖ SEQ ‖ P16), SID and SEQ as the 4 LE header bytes. */
export function md5AuthCode(
  password: Uint8Array,
  sessionId: number,
  sequence: number,
  message: Uint8Array,
): Buffer {
  const p = pad16(password);
  const sid = Buffer.allocUnsafe(4);
  sid.writeUInt32LE(sessionId >>> 0, 0);
  const seq = Buffer.allocUnsafe(4);
  seq.writeUInt32LE(sequence >>> 0, 0);
  return createHash('md5').update(p).update(sid).update(message).update(seq).update(p).digest();
}
