/**
 * Sensor Data Records and sensor readings (IPMI 2.0 sections 35 and 43): the bytes of a compact
 * sensor record and of a Get Sensor Reading answer for a discrete sensor. Pure functions.
 */

/** SDR record type 0x02: compact sensor record. */
export const SDR_COMPACT_SENSOR = 0x02;
/** SDR version 1.5 (the byte every record header carries). */
export const SDR_VERSION = 0x51;
/** Longest sensor ID string a compact record holds. */
export const MAX_SENSOR_ID = 16;

export interface CompactDiscreteSensor {
  /** Record ID (1…0xFFFE). */
  readonly recordId: number;
  /** Owner: the BMC's slave address (0x20). */
  readonly ownerId: number;
  /** Sensor number (0…0xFE; 0xFF is reserved). */
  readonly sensorNumber: number;
  /** Entity ID (table 43-13) and instance. */
  readonly entityId: number;
  readonly entityInstance: number;
  /** Sensor type (table 42-3), e.g. 0x22 System ACPI Power State. */
  readonly sensorType: number;
  /** Event/reading type code (table 42-1); 0x6F = sensor-specific discrete. */
  readonly readingType: number;
  /** Bits 0–14: the states this sensor can report (the record's discrete reading mask). */
  readonly readableStates: number;
  /** ID string: printable ASCII, at most 16 bytes. */
  readonly name: string;
}

/**
 * A compact sensor record (table 43-2) for a discrete sensor that generates no events: scanning
 * on, auto re-arm, no thresholds or hysteresis, event message control "no events", empty
 * assertion/deassertion event masks (no state sends an event), no numeric reading, no sharing. Throws on values that do not fit
 * (a programming error: the records are constants).
 */
export function encodeCompactDiscreteSensor(s: CompactDiscreteSensor): Buffer {
  const name = Buffer.from(s.name, 'latin1');
  if (!/^[\x20-\x7e]{1,16}$/.test(s.name)) throw new Error(`sensor name ${JSON.stringify(s.name)}`);
  if (s.recordId < 1 || s.recordId > 0xfffe || s.sensorNumber > 0xfe || s.readableStates > 0x7fff)
    throw new Error('sensor record field out of range');
  const out = Buffer.alloc(32 + name.length);
  out.writeUInt16LE(s.recordId, 0);
  out[2] = SDR_VERSION;
  out[3] = SDR_COMPACT_SENSOR;
  out[4] = out.length - 5; // bytes after the 5-byte header
  out[5] = s.ownerId; // IPMB slave address (bit 0 = 0)
  out[6] = 0x00; // channel 0, owner LUN 0
  out[7] = s.sensorNumber;
  out[8] = s.entityId;
  out[9] = s.entityInstance & 0x7f; // physical entity
  out[10] = 0x41; // initialization: init scanning (bit 6), scanning enabled by default (bit 0)
  out[11] = 0x43; // capabilities: auto re-arm (bit 6), no hysteresis/thresholds, no events (bits 1:0 = 11b)
  out[12] = s.sensorType;
  out[13] = s.readingType;
  // 14–15 assertion event mask, 16–17 deassertion event mask: none (the sensor sends no events)
  out.writeUInt16LE(s.readableStates, 18); // discrete reading mask
  out[20] = 0xc0; // units 1: analog data format 11b "no numeric reading" (what compact records carry)
  // 21 base unit, 22 modifier unit: none
  out[23] = 0x01; // record sharing: one sensor
  // 24 entity instance sharing, 25–26 hysteresis, 27–29 reserved, 30 OEM: 0
  out[31] = 0xc0 | name.length; // 8-bit ASCII + Latin-1, length
  name.copy(out, 32);
  return out;
}

/**
 * Get Sensor Reading (0x04/0x2D) answer for a discrete sensor whose `states` (bits 0–14) are
 * asserted: byte 0 "reading" (spec: ignore on read for a discrete sensor; it carries state bits
 * 0–7, so clients that print it, like `ipmitool sdr list`, show the state), byte 1 = scanning
 * enabled, event messages disabled, reading available; bytes 2–3 = the state bits (byte 3 bit 7 is
 * reserved and returned as 1).
 */
export function encodeDiscreteReading(states: number): Buffer {
  return Buffer.from([states & 0xff, 0x40, states & 0xff, 0x80 | ((states >> 8) & 0x7f)]);
}

/** Get SDR (0x0A/0x23) request: reservation ID, record ID (0 = first), offset, count (0xFF = all). */
export interface GetSdrRequest {
  readonly reservation: number;
  readonly recordId: number;
  readonly offset: number;
  readonly count: number;
}

/** The request, or null when it is not exactly 6 bytes. */
export function decodeGetSdrRequest(data: Uint8Array): GetSdrRequest | null {
  if (data.length !== 6) return null;
  return {
    reservation: data[0]! | (data[1]! << 8),
    recordId: data[2]! | (data[3]! << 8),
    offset: data[4]!,
    count: data[5]!,
  };
}
