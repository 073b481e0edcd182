import { decodeGetSdrRequest } from '../codec/sdr.ts';
import { PRIV_OPERATOR, PRIV_USER } from '../session/session.ts';
import { buildFru } from './fru.ts';
import { SENSORS } from './sensors.ts';
import { CC, type CommandSpec, fail, NETFN_STORAGE, ok } from './types.ts';

/**
 * The SDR repository: a Management Controller Device Locator for the BMC itself (record 1; an empty
 * repository makes ipmitool try to rebuild it and fail) and one record per sensor (sensors.ts). The
 * SEL is empty.
 */
export const MC_LOCATOR_RECORD = Buffer.from([
  0x01,
  0x00,
  0x51,
  0x12,
  0x0b, // record ID 1, SDR version 1.5, type 0x12, 11 body bytes
  0x20,
  0x00,
  0x00,
  0xbf,
  0x00,
  0x00,
  0x00,
  0x06,
  0x01,
  0x00,
  0xc3,
  0x42,
  0x4d,
  0x43, // "BMC"
]);
MC_LOCATOR_RECORD[4] = MC_LOCATOR_RECORD.length - 5;

/** Every SDR, in record ID order. */
export const SDR_RECORDS: readonly Buffer[] = [MC_LOCATOR_RECORD, ...SENSORS.map((s) => s.record)];

/**
 * "Most recent addition" of Get SDR Repository Info: when this record set last changed (seconds
 * since 1970; 2026-12-05, the ACPI power state sensor). Change it whenever SDR_RECORDS changes:
 * FreeIPMI keeps a cache of the repository and decides by this time whether the cache is stale.
 */
export const SDR_RECORDS_CHANGED = 1796428800;

/** Largest chunk returned by Read FRU Data / Get SDR. */
const MAX_READ = 32;

function u16(n: number): [number, number] {
  return [n & 0xff, (n >> 8) & 0xff];
}

function u32(n: number): [number, number, number, number] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

export const storageCommands: CommandSpec[] = [
  {
    netFn: NETFN_STORAGE,
    cmd: 0x10,
    name: 'Get FRU Inventory Area Info',
    privilege: PRIV_USER,
    handler: (req, ctx) => {
      if (req.data.length !== 1) return fail(CC.DATA_LENGTH_INVALID);
      if (req.data[0] !== 0) return fail(CC.NOT_PRESENT);
      const size = buildFru(ctx.machine.getIdentity()).length;
      return ok([...u16(size), 0x00]);
    },
  },
  {
    netFn: NETFN_STORAGE,
    cmd: 0x11,
    name: 'Read FRU Data',
    privilege: PRIV_USER,
    handler: (req, ctx) => {
      if (req.data.length !== 4) return fail(CC.DATA_LENGTH_INVALID);
      if (req.data[0] !== 0) return fail(CC.NOT_PRESENT);
      const fru = buildFru(ctx.machine.getIdentity());
      const offset = req.data.readUInt16LE(1);
      const count = req.data[3]!;
      if (offset >= fru.length) return fail(CC.PARAMETER_OUT_OF_RANGE);
      if (count > MAX_READ) return fail(CC.CANNOT_RETURN_BYTES);
      const chunk = fru.subarray(offset, offset + count);
      return ok([chunk.length, ...chunk]);
    },
  },
  {
    netFn: NETFN_STORAGE,
    cmd: 0x20,
    name: 'Get SDR Repository Info',
    privilege: PRIV_USER,
    // SDR 1.5, record count, free space unspecified, last addition, never erased, supports Reserve only.
    handler: () =>
      ok([0x51, ...u16(SDR_RECORDS.length), 0xff, 0xff, ...u32(SDR_RECORDS_CHANGED), ...u32(0), 0x02]),
  },
  {
    netFn: NETFN_STORAGE,
    cmd: 0x22,
    name: 'Reserve SDR Repository',
    privilege: PRIV_USER,
    handler: (_req, ctx) => ok(u16(ctx.bmc.nextSdrReservation())),
  },
  {
    netFn: NETFN_STORAGE,
    cmd: 0x23,
    name: 'Get SDR',
    privilege: PRIV_USER,
    handler: (req, ctx) => {
      const r = decodeGetSdrRequest(req.data);
      if (!r) return fail(CC.DATA_LENGTH_INVALID);
      // A partial read needs the current reservation.
      if (r.offset !== 0 && r.reservation !== ctx.bmc.sdrReservation) return fail(CC.RESERVATION_INVALID);
      // Record ID 0 = the first record; 0xFFFF = the last.
      const i =
        r.recordId === 0
          ? 0
          : r.recordId === 0xffff
            ? SDR_RECORDS.length - 1
            : SDR_RECORDS.findIndex((rec) => rec.readUInt16LE(0) === r.recordId);
      const record = SDR_RECORDS[i];
      if (!record) return fail(CC.NOT_PRESENT);
      if (r.offset > record.length) return fail(CC.PARAMETER_OUT_OF_RANGE);
      if (r.count !== 0xff && r.count > MAX_READ) return fail(CC.CANNOT_RETURN_BYTES);
      const end = r.count === 0xff ? record.length : Math.min(r.offset + r.count, record.length);
      const next = SDR_RECORDS[i + 1]?.readUInt16LE(0) ?? 0xffff;
      return ok([...u16(next), ...record.subarray(r.offset, end)]);
    },
  },
  {
    netFn: NETFN_STORAGE,
    cmd: 0x40,
    name: 'Get SEL Info',
    privilege: PRIV_USER,
    // SEL 1.5, no entries, 0 bytes free (nothing is ever logged), no timestamps, supports Reserve.
    handler: () => ok([0x51, 0x00, 0x00, 0x00, 0x00, ...u32(0xffffffff), ...u32(0xffffffff), 0x02]),
  },
  {
    netFn: NETFN_STORAGE,
    cmd: 0x42,
    name: 'Reserve SEL',
    privilege: PRIV_USER,
    handler: (_req, ctx) => ok(u16(ctx.bmc.nextSelReservation())),
  },
  {
    netFn: NETFN_STORAGE,
    cmd: 0x43,
    name: 'Get SEL Entry',
    privilege: PRIV_USER,
    handler: (req) => {
      if (req.data.length !== 6) return fail(CC.DATA_LENGTH_INVALID);
      return fail(CC.NOT_PRESENT); // the SEL is empty
    },
  },
  {
    netFn: NETFN_STORAGE,
    cmd: 0x48,
    name: 'Get SEL Time',
    privilege: PRIV_USER,
    handler: () => ok(u32(Math.floor(Date.now() / 1000))),
  },
  {
    netFn: NETFN_STORAGE,
    cmd: 0x47,
    name: 'Clear SEL',
    privilege: PRIV_OPERATOR,
    handler: (req, ctx) => {
      if (req.data.length !== 6) return fail(CC.DATA_LENGTH_INVALID);
      const r = req.data.readUInt16LE(0);
      if (r !== ctx.bmc.selReservation) return fail(CC.RESERVATION_INVALID);
      if (req.data[2] !== 0x43 || req.data[3] !== 0x4c || req.data[4] !== 0x52)
        return fail(CC.INVALID_DATA_FIELD);
      return ok([0x01]); // erasure completed
    },
  },
];
