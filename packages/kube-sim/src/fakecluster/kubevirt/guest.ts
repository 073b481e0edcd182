/**
 * The simulated guest behind a VMI's serial console: firmware and boot transcript (naming the
 * firmware mode and the device it booted from, chosen by bootOrder), a login prompt that echoes,
 * reboots and power-offs. The transcript is kept (bounded) for `consoleTranscript()`, which plays
 * the part of KubeVirt's `guest-console-log` container (the serial log QEMU writes whether or not a
 * console is attached); a console connection is never sent what was printed before it attached.
 */
import { interfaceMac } from './mac.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are schemaless JSON here
type Obj = Record<string, any>;

export interface BootDevice {
  kind: 'disk' | 'cdrom' | 'network';
  name: string;
  bootOrder?: number;
  /** What backs it: an image URL, container image, PVC name; undefined for an empty CD-ROM. */
  source?: string;
  mac?: string;
}

export interface BootPlan {
  firmware: 'UEFI' | 'BIOS';
  secureBoot: boolean;
  /** Devices in the order the firmware tries them. */
  order: BootDevice[];
  /** The device booted, or undefined (no bootable device: firmware setup). */
  chosen?: BootDevice;
}

/** Resolves how a volume is backed, for the transcript. */
export type VolumeSource = (volume: Obj) => string | undefined;

/**
 * KubeVirt's boot order rules: lower bootOrder first; if any device has one, devices without are
 * skipped. `vmiUid` picks the MACs of this start (`mac.ts`), the ones the VMI's status reports.
 */
export function bootPlan(
  ns: string,
  vmiName: string,
  spec: Obj,
  source: VolumeSource,
  vmiUid?: string,
): BootPlan {
  const domain = spec.domain ?? {};
  const bl = domain.firmware?.bootloader ?? {};
  const firmware = bl.efi ? 'UEFI' : 'BIOS';
  const secureBoot = !!bl.efi && bl.efi.secureBoot !== false;
  const volumes: Obj[] = spec.volumes ?? [];
  const devices: BootDevice[] = [];
  for (const d of domain.devices?.disks ?? []) {
    const vol = volumes.find((v) => v.name === d.name);
    devices.push({
      kind: d.cdrom ? 'cdrom' : 'disk',
      name: d.name,
      ...(d.bootOrder !== undefined ? { bootOrder: d.bootOrder } : {}),
      ...(vol ? { source: source(vol) ?? vol.name } : {}),
    });
  }
  const interfaces: Obj[] = domain.devices?.interfaces ?? [];
  for (const i of interfaces) {
    if (i.bootOrder === undefined) continue;
    devices.push({
      kind: 'network',
      name: i.name,
      bootOrder: i.bootOrder,
      mac: interfaceMac({ namespace: ns, name: vmiName, ...(vmiUid ? { uid: vmiUid } : {}) }, i),
    });
  }
  const anyOrder = devices.some((d) => d.bootOrder !== undefined);
  const order = anyOrder
    ? devices.filter((d) => d.bootOrder !== undefined).sort((a, b) => a.bootOrder! - b.bootOrder!)
    : devices;
  const chosen = order.find((d) => d.kind === 'network' || d.source !== undefined);
  return { firmware, secureBoot, order, ...(chosen ? { chosen } : {}) };
}

function describe(d: BootDevice): string {
  if (d.kind === 'network') return `network (PXE) on interface '${d.name}' (MAC ${d.mac})`;
  if (d.kind === 'cdrom')
    return d.source ? `CD-ROM '${d.name}' (image ${d.source})` : `CD-ROM '${d.name}' (empty)`;
  return `disk '${d.name}' (${d.source ?? 'no volume'})`;
}

/** The lines the guest prints from power-on to the login prompt. */
export function bootTranscript(plan: BootPlan, hostname: string): string[] {
  const lines: string[] = [];
  if (plan.firmware === 'UEFI') {
    lines.push(
      `UEFI firmware (OVMF, simulated) starting; Secure Boot ${plan.secureBoot ? 'enabled' : 'disabled'}`,
    );
  } else {
    lines.push('SeaBIOS (simulated) starting in BIOS mode');
  }
  lines.push(`Firmware mode: ${plan.firmware}`);
  lines.push(`Boot order: ${plan.order.map((d, i) => `${i + 1}. ${describe(d)}`).join('; ') || '(none)'}`);
  for (const d of plan.order) {
    if (d === plan.chosen) break;
    lines.push(`Boot failed: ${describe(d)}: no bootable medium`);
  }
  if (!plan.chosen) {
    lines.push('No bootable device found.');
    lines.push(`Entering firmware setup (${plan.firmware === 'UEFI' ? 'UEFI setup menu' : 'BIOS setup'})`);
    return lines;
  }
  lines.push(`Booting from ${describe(plan.chosen)}`);
  if (plan.chosen.kind === 'network') {
    lines.push(`PXE: DHCP on ${plan.chosen.mac}... ok, loading network boot program`);
  }
  lines.push('Linux version 6.1.0-sim (simulated guest)');
  lines.push('Reached target Multi-User System.');
  lines.push('');
  lines.push(`${hostname} login: `);
  return lines;
}

type Listener = (data: Buffer) => void;

/** One guest's serial line: output transcript (bounded) and an echoing login prompt. */
export class SerialConsole {
  private buffer = '';
  private readonly listeners = new Set<Listener>();
  private line = '';
  private state: 'login' | 'password' | 'shell' | 'off' = 'off';
  private user = '';

  constructor(
    readonly hostname: string,
    private readonly onCommand: (cmd: 'poweroff' | 'reboot') => void,
    private readonly maxBytes = 64 * 1024,
  ) {}

  get transcript(): string {
    return this.buffer;
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  write(text: string): void {
    this.buffer += text;
    if (this.buffer.length > this.maxBytes)
      this.buffer = this.buffer.slice(this.buffer.length - this.maxBytes);
    const data = Buffer.from(text, 'utf8');
    for (const l of [...this.listeners]) l(data);
  }

  writeLines(lines: string[]): void {
    for (const [i, l] of lines.entries())
      this.write(i === lines.length - 1 && l.endsWith(': ') ? l : `${l}\r\n`);
  }

  atLogin(): void {
    this.state = 'login';
    this.line = '';
  }

  off(): void {
    this.state = 'off';
    this.line = '';
  }

  /** Bytes typed on the console. */
  input(data: Buffer): void {
    if (this.state === 'off') return;
    for (const ch of data.toString('utf8')) {
      if (ch === '\r' || ch === '\n') {
        this.write('\r\n');
        this.enter(this.line);
        this.line = '';
      } else if (ch === '\x7f' || ch === '\b') {
        if (this.line.length > 0) {
          this.line = this.line.slice(0, -1);
          if (this.state !== 'password') this.write('\b \b');
        }
      } else if (ch >= ' ') {
        this.line += ch;
        if (this.state !== 'password') this.write(ch);
      }
    }
  }

  private prompt(): string {
    return `[${this.user}@${this.hostname} ~]$ `;
  }

  private enter(text: string): void {
    const cmd = text.trim();
    switch (this.state) {
      case 'login':
        if (!cmd) {
          this.write(`${this.hostname} login: `);
          return;
        }
        this.user = cmd;
        this.state = 'password';
        this.write('Password: ');
        return;
      case 'password':
        this.state = 'shell';
        this.write(`Last login: ${new Date().toUTCString()} on ttyS0\r\n${this.prompt()}`);
        return;
      case 'shell':
        if (cmd === 'poweroff' || cmd === 'shutdown -h now') {
          this.onCommand('poweroff');
          return;
        }
        if (cmd === 'reboot') {
          this.onCommand('reboot');
          return;
        }
        if (cmd === 'exit' || cmd === 'logout') {
          this.state = 'login';
          this.write(`\r\n${this.hostname} login: `);
          return;
        }
        if (cmd === 'hostname') this.write(`${this.hostname}\r\n`);
        else if (cmd === 'uname -a')
          this.write(`Linux ${this.hostname} 6.1.0-sim #1 SMP x86_64 GNU/Linux\r\n`);
        else if (cmd) this.write(`-sh: ${cmd.split(/\s+/)[0]}: command not found\r\n`);
        this.write(this.prompt());
        return;
      default:
        return;
    }
  }
}
