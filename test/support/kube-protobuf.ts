/**
 * Builds Kubernetes protobuf bodies field by field (the wire format's rules), for tests of the
 * embedded cluster's decoder: `envelope(apiVersion, kind, raw)` is what client-go sends.
 */
export function varint(n: bigint | number): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v ? b | 0x80 : b);
  } while (v);
  return out;
}
export const key = (num: number, wire: number) => varint((num << 3) | wire);
export const vint = (num: number, n: bigint | number) => [...key(num, 0), ...varint(n)];
export const bytes = (num: number, b: number[] | Uint8Array) => [...key(num, 2), ...varint(b.length), ...b];
export const str = (num: number, s: string) => bytes(num, [...Buffer.from(s, 'utf8')]);
export const entry = (num: number, k: string, v: number[]) => bytes(num, [...str(1, k), ...v]);
export const envelope = (apiVersion: string, kind: string, raw: number[]) =>
  Buffer.from([
    0x6b,
    0x38,
    0x73,
    0x00,
    ...bytes(1, [...str(1, apiVersion), ...str(2, kind)]),
    ...bytes(2, raw),
    ...str(3, ''),
    ...str(4, ''),
  ]);
