/**
 * The guests behind VMIs, kept in memory by the component that plays virt-handler: each VMI uid
 * gets a serial console (guest.ts) whose transcript outlives the VMI object. Booting prints the
 * firmware and boot-order transcript (line by line, `consoleLineMs` apart); reboots, resets,
 * power-offs and hotplugged media are written to it. No I/O.
 */
import { bootPlan, bootTranscript, SerialConsole } from './guest.ts';
import { type Obj, volumeSourceText } from './logic.ts';

export interface GuestState {
  uid: string;
  console: SerialConsole;
  running: boolean;
}

export interface GuestTimers {
  after(ms: number, fn: () => void): void;
}

/** What a VMI's guest runs on: the VMI (as now) and a DataVolume lookup in its namespace. */
export type DataVolumeLookup = (namespace: string, name: string) => Obj | undefined;

export const POWER_DOWN_TEXT = '\r\n[  OK  ] Reached target Power-Off.\r\nreboot: Power down\r\n';
const CRASH_TEXT = '\r\nKernel panic - not syncing: simulated guest crash\r\n';
const SOFT_REBOOT_TEXT = '\r\n[  OK  ] Reached target System Reboot.\r\nreboot: Restarting system\r\n';
const RESET_TEXT = '\r\n*** hard reset ***\r\n';

export class Guests {
  readonly guests = new Map<string, GuestState>();
  /** `namespace/name` → uid of the latest VMI with that name (its guest outlives the VMI object). */
  readonly latest = new Map<string, string>();

  constructor(
    private readonly timers: GuestTimers,
    private readonly consoleLineMs: number,
    private readonly getDv: DataVolumeLookup,
    /** The guest asked to reboot or power off from its shell. */
    private readonly onCommand: (
      vmi: { namespace: string; name: string; uid: string },
      cmd: 'poweroff' | 'reboot',
    ) => void,
    private readonly max = 200,
  ) {}

  /** The guest of a VMI (made on first use). */
  guest(vmi: Obj): GuestState {
    let g = this.guests.get(vmi.metadata.uid);
    if (!g) {
      const namespace = vmi.metadata.namespace;
      const name = vmi.metadata.name;
      const uid = vmi.metadata.uid;
      g = {
        uid,
        running: false,
        console: new SerialConsole(vmi.spec?.hostname ?? name, (cmd) =>
          this.onCommand({ namespace, name, uid }, cmd),
        ),
      };
      this.guests.set(uid, g);
      this.latest.set(`${namespace}/${name}`, uid);
      if (this.guests.size > this.max) {
        const [oldest] = this.guests.keys();
        this.guests.delete(oldest!);
      }
    }
    return g;
  }

  /** The transcript of the latest guest of that VMI name ('' when none). */
  transcript(namespace: string, name: string): string {
    const uid = this.latest.get(`${namespace}/${name}`);
    return (uid && this.guests.get(uid)?.console.transcript) || '';
  }

  volumeSource(namespace: string): (v: Obj) => string | undefined {
    return (v) => volumeSourceText(v, (n) => this.getDv(namespace, n));
  }

  /** Powers the guest on: firmware, boot order, the device booted, a login prompt. */
  boot(vmi: Obj): void {
    const g = this.guest(vmi);
    g.running = true;
    const plan = bootPlan(
      vmi.metadata.namespace,
      vmi.metadata.name,
      vmi.spec ?? {},
      this.volumeSource(vmi.metadata.namespace),
      vmi.metadata.uid,
    );
    const lines = bootTranscript(plan, g.console.hostname);
    const step = this.consoleLineMs;
    if (step === 0) {
      g.console.writeLines(lines);
      if (plan.chosen) g.console.atLogin();
      return;
    }
    for (const [i, l] of lines.entries()) {
      this.timers.after(step * i, () => {
        if (!g.running) return;
        g.console.write(i === lines.length - 1 && l.endsWith(': ') ? l : `${l}\r\n`);
        if (i === lines.length - 1 && plan.chosen) g.console.atLogin();
      });
    }
  }

  /** A soft reboot or a hard reset: the guest goes through its boot again (`current`: the VMI as now). */
  reboot(vmi: Obj, kind: 'soft' | 'reset', current: Obj = vmi): void {
    const g = this.guest(vmi);
    g.console.off();
    g.console.write(kind === 'soft' ? SOFT_REBOOT_TEXT : RESET_TEXT);
    this.boot(current);
  }

  /** The guest stops by itself: a clean power-off or a crash. */
  exit(vmi: Obj, phase: 'Succeeded' | 'Failed'): void {
    const g = this.guest(vmi);
    g.running = false;
    g.console.off();
    g.console.write(phase === 'Succeeded' ? POWER_DOWN_TEXT : CRASH_TEXT);
  }

  /** The VMI is being deleted: a running guest powers down. */
  shutdown(uid: string): void {
    const g = this.guests.get(uid);
    if (!g?.running) return;
    g.running = false;
    g.console.off();
    g.console.write(POWER_DOWN_TEXT);
  }

  /** The VMI object is gone: its console takes no more input. */
  gone(uid: string): void {
    this.guests.get(uid)?.console.off();
  }

  /** Hotplug volumes that became Ready: the guest notices the media. */
  mediaAttached(vmi: Obj, names: string[]): void {
    const g = this.guests.get(vmi.metadata.uid);
    if (!g) return;
    for (const n of names) {
      const vol = (vmi.spec?.volumes ?? []).find((x: Obj) => x.name === n);
      const src = vol ? this.volumeSource(vmi.metadata.namespace)(vol) : undefined;
      g.console.write(`\r\n[hotplug] media attached to '${n}'${src ? ` (image ${src})` : ''}\r\n`);
    }
  }
}

/** Names of the volumes `want` has Ready that `had` did not. */
export function newlyReady(had: Obj[] | undefined, want: Obj[]): string[] {
  const before = new Set((had ?? []).filter((v) => v.phase === 'Ready').map((v) => v.name));
  return want.filter((v) => v.phase === 'Ready' && !before.has(v.name)).map((v) => v.name);
}
