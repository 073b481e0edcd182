/**
 * The MAC address each interface of a VMI has, as KubeVirt v1.9.0 decides it (see README.md, "MAC
 * addresses"), and the VM webhook's check of a `macAddress` in the spec. Pure.
 *
 * - A `macAddress` in the spec is the domain's MAC, and so the VMI's `status.interfaces[].mac`, at
 *   every start, in libvirt's lower-case colon form.
 * - Otherwise it is new at every start (a new VMI has a new virt-launcher pod): for the tap bindings
 *   (`masquerade`, `bridge`, and the default when none is named) the pod interface's MAC, which the
 *   CNI's veth got at random: unicast, locally administered; for `passtBinding` and binding plugins
 *   (no tap device: the domain interface has no MAC) the one libvirt generates: `52:54:00` and three
 *   random bytes.
 * - The same VMI keeps its MACs (a reset or soft reboot restarts the guest, not the domain).
 *
 * Random here is drawn from the VMI's uid (random per start), so the controller's status and the
 * guest's PXE line, computed apart, agree without storing anything.
 */
import { createHash } from 'node:crypto';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
type Obj = Record<string, any>;

/**
 * Parses a hardware address the way Go's `net.ParseMAC` does (what KubeVirt uses): `aa:bb:…`,
 * `aa-bb-…` or `aabb.ccdd.…`, 6, 8 or 20 bytes. The bytes, or null when malformed.
 */
export function parseHardwareAddr(text: string): number[] | null {
  const s = String(text);
  if (s.length < 14) return null;
  const hex = (from: number, count: number): number[] | null => {
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      const pair = s.slice(from + 2 * i, from + 2 * i + 2);
      if (!/^[0-9a-fA-F]{2}$/.test(pair)) return null;
      out.push(Number.parseInt(pair, 16));
    }
    return out;
  };
  const sizes = [6, 8, 20];
  const bytes: number[] = [];
  if (s[2] === ':' || s[2] === '-') {
    if ((s.length + 1) % 3 !== 0) return null;
    const n = (s.length + 1) / 3;
    if (!sizes.includes(n)) return null;
    for (let i = 0; i < n; i++) {
      const at = 3 * i;
      if (i < n - 1 && s[at + 2] !== s[2]) return null;
      const b = hex(at, 1);
      if (!b) return null;
      bytes.push(...b);
    }
    return bytes;
  }
  if (s[4] === '.') {
    if ((s.length + 1) % 5 !== 0) return null;
    const n = (2 * (s.length + 1)) / 5;
    if (!sizes.includes(n)) return null;
    for (let i = 0; i < n / 2; i++) {
      const at = 5 * i;
      if (i < n / 2 - 1 && s[at + 4] !== '.') return null;
      const b = hex(at, 2);
      if (!b) return null;
      bytes.push(...b);
    }
    return bytes;
  }
  return null;
}

const colon = (bytes: readonly number[]) => bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');

/** A spec `macAddress` as the VMI reports it (lower-case, colons); undefined when none or unusable. */
export function specMac(iface: Obj): string | undefined {
  if (typeof iface.macAddress !== 'string' || iface.macAddress === '') return undefined;
  const bytes = parseHardwareAddr(iface.macAddress);
  return bytes && bytes.length === 6 ? colon(bytes) : undefined;
}

/** True for the bindings that get a tap device in the pod (their domain MAC is the pod interface's). */
function tapBinding(iface: Obj): boolean {
  if (iface.passtBinding || iface.binding) return false;
  return true;
}

/** The MAC an interface of this VMI has: the spec's, else one new to this VMI (see the file comment). */
export function interfaceMac(vmi: { namespace: string; name: string; uid?: string }, iface: Obj): string {
  const fixed = specMac(iface);
  if (fixed) return fixed;
  const h = createHash('sha256')
    .update(`${vmi.namespace}/${vmi.name}/${vmi.uid ?? ''}/${iface.name ?? ''}`)
    .digest();
  if (tapBinding(iface)) return colon([(h[0]! & 0xfe) | 0x02, h[1]!, h[2]!, h[3]!, h[4]!, h[5]!]);
  return colon([0x52, 0x54, 0x00, h[0]!, h[1]!, h[2]!]);
}

/**
 * The VM webhook's check of each interface's `macAddress` (`validateMacAddress`,
 * pkg/network/admitter/netiface.go, v1.9.0): malformed, or longer than 6 bytes, is refused.
 */
export function macCauses(interfaces: Obj[] | undefined, base: string): { field: string; message: string }[] {
  const causes: { field: string; message: string }[] = [];
  (interfaces ?? []).forEach((iface, i) => {
    const mac = iface?.macAddress;
    if (mac === undefined || mac === '') return;
    const bytes = parseHardwareAddr(String(mac));
    const problem = !bytes
      ? `malformed MAC address (${mac})`
      : bytes.length > 6
        ? `too long MAC address (${mac})`
        : null;
    if (!problem) return;
    const path = `${base}.domain.devices.interfaces[${i}]`;
    causes.push({ field: `${path}.macAddress`, message: `interface ${path}.name has ${problem}.` });
  });
  return causes;
}
