import { createHash } from 'node:crypto';
import type { MachineIdentity } from '../../machine/index.ts';

/**
 * State the BMC itself keeps (not the machine's): chassis identify, the boot-option parameters
 * that are not part of the Machine's boot override, reservations, the ACPI state last set.
 */
export class BmcState {
  /** Identify light: off, on until `identifyUntil` (ms epoch), or on indefinitely. */
  identify: { mode: 'off' | 'timed' | 'on'; until: number } = { mode: 'off', until: 0 };
  /** Boot option parameter 0 (set in progress) bits1:0. */
  bootSetInProgress = 0;
  /** Boot option parameter 3 (valid bit clearing). */
  bootValidBitClearing = 0;
  /** Boot option parameter 4 (boot info acknowledge) data byte. */
  bootInfoAcknowledge = 0;
  /** Bytes 2 (non-device bits), 3, 4, 5 of boot flags last set (CMOS clear, lockouts, verbosity…). */
  bootFlagExtras = Buffer.alloc(4);
  /**
   * Boot flags (parameter 5, 5 bytes) a client set for a device this machine does not have (a CD-ROM
   * on a VM without one, firmware setup on KubeVirt). A real BMC stores the parameter whatever is
   * fitted and the firmware falls through to its boot order; we keep it here, report it on Get, and
   * leave the machine alone. Null when the Machine's own override is what parameter 5 says.
   */
  heldBootFlags: Buffer | null = null;
  sdrReservation = 0;
  selReservation = 0;
  /** Last Set ACPI Power State values (0x7F = not set). */
  acpi = { system: 0x7f, device: 0x7f };
  /** Whether the last power-on came through an IPMI command (Get Chassis Status byte 1 bit4). */
  lastPowerOnByIpmi = false;
  /** Where the server listens, for LAN configuration parameters. */
  listenAddress = '0.0.0.0';

  identifyActive(now: number): boolean {
    if (this.identify.mode === 'on') return true;
    if (this.identify.mode === 'timed' && now < this.identify.until) return true;
    return false;
  }

  nextSdrReservation(): number {
    this.sdrReservation = (this.sdrReservation % 0xffff) + 1;
    return this.sdrReservation;
  }

  nextSelReservation(): number {
    this.selReservation = (this.selReservation % 0xffff) + 1;
    return this.selReservation;
  }
}

/** RFC 4122 text → IPMI byte order (the complete byte reversal of the text form's bytes). */
export function uuidToIpmiGuid(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) return Buffer.alloc(16);
  return Buffer.from(hex, 'hex').reverse();
}

/** The system GUID (the VM's UUID) in IPMI order. */
export function systemGuid(id: MachineIdentity): Buffer {
  return uuidToIpmiGuid(id.uuid);
}

/** A stable GUID for the BMC itself (a name-based UUID v5 derived from the VM's UUID). */
export function deviceGuid(id: MachineIdentity): Buffer {
  const h = createHash('sha1').update('kubevirtbmc-bmc:').update(id.uuid).digest().subarray(0, 16);
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  return Buffer.from(h).reverse();
}
