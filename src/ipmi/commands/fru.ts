import type { MachineIdentity } from '../../machine/index.ts';
import { checksum } from '../codec/checksum.ts';

/** A type/length-prefixed 8-bit ASCII field (max 63 bytes). */
function field(text: string): number[] {
  const bytes = [...Buffer.from(text.slice(0, 63), 'latin1')];
  return [0xc0 | bytes.length, ...bytes];
}

/** Pads an area to a multiple of 8 bytes, sets its length byte (in 8-byte units) and checksum. */
function finishArea(body: number[]): number[] {
  const out = [...body, 0xc1];
  while ((out.length + 1) % 8 !== 0) out.push(0);
  out.push(0);
  out[1] = out.length / 8;
  out[out.length - 1] = checksum(Uint8Array.from(out), 0, out.length - 1);
  return out;
}

/**
 * FRU 0 inventory: common header + product info area. Manufacturer "KubeVirt" (the machine's own
 * manufacturer when set), product name = the machine model, serial number = the VM UUID, asset tag
 * = namespace/name.
 */
export function buildFru(id: MachineIdentity): Buffer {
  const product = finishArea([
    0x01,
    0x00, // length, set by finishArea
    0x00, // language English
    ...field(id.manufacturer || 'KubeVirt'),
    ...field(id.model || 'VirtualMachine'),
    ...field(id.name), // part/model number
    ...field(''), // version
    ...field(id.uuid), // serial number
    ...field(`${id.namespace}/${id.name}`), // asset tag
    ...field(''), // FRU file ID
  ]);
  const header = [0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00];
  header[7] = checksum(Uint8Array.from(header), 0, 7);
  return Buffer.from([...header, ...product]);
}
