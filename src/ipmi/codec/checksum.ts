/** IPMI two's-complement checksum: the covered bytes plus the checksum sum to 0 mod 256. */
export function checksum(buf: Uint8Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum += buf[i]!;
  return (0x100 - (sum & 0xff)) & 0xff;
}

/** True when bytes [start, end) including their trailing checksum byte sum to 0 mod 256. */
export function checksumOk(buf: Uint8Array, start: number, end: number): boolean {
  let sum = 0;
  for (let i = start; i < end; i++) sum += buf[i]!;
  return (sum & 0xff) === 0;
}
