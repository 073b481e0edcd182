import { type BmcAccount, isPowered } from '../../machine/index.ts';
import { decodeChannelAccessRequest, encodeChannelAccess } from '../codec/channel.ts';
import { AUTH_MD5 } from '../codec/lan15.ts';
import { decodeSessionInfoRequest, encodeSessionInfo } from '../codec/session-info.ts';
import { cipherSuiteRecords } from '../crypto/suites.ts';
import { PRIV_ADMIN, PRIV_CALLBACK, PRIV_OPERATOR, PRIV_USER, roleLimit } from '../session/session.ts';
import { deviceGuid, systemGuid } from './bmc-state.ts';
import { type ActiveSession, CC, type CommandSpec, fail, NETFN_APP, ok } from './types.ts';

/** The LAN channel number we report (never 0xE, which means "this channel" in requests). */
export const LAN_CHANNEL = 1;

function channelOk(c: number): boolean {
  const n = c & 0x0f;
  return n === 0x0e || n === LAN_CHANNEL;
}

/**
 * Auth-type bitmap for 1.5 (Get Channel Auth Caps byte 1, LAN parameter 1): MD5 only (plus NONE when
 * enabled). Straight password is not offered: it would send the password in clear in every packet.
 */
export function authTypeBits(allowNone: boolean): number {
  return (1 << AUTH_MD5) | (allowNone ? 1 : 0);
}

const FIRMWARE_MAJOR = 1;
const FIRMWARE_MINOR_BCD = 0x00;

/**
 * Manufacturer ID in Get Device ID: IANA Private Enterprise Number 57683, the Cloud Native Computing
 * Foundation, home of KubeVirt (which has no number of its own): the machines this BMC manages are
 * KubeVirt VMs, and FRU and Redfish name "KubeVirt" as their manufacturer. No client has OEM
 * handling for it, so nothing vendor-specific is triggered. See docs/ipmi.md, "Manufacturer ID".
 */
export const MANUFACTURER_ID = 57683;
/** Product ID: "KV" (0x4B56). */
export const PRODUCT_ID = 0x4b56;

/** Get Device ID response data (15 bytes). */
export function deviceId(): number[] {
  // device 0x20; rev 1, no device SDRs (bit 7 clear: its sensor records are in the SDR repository,
  // and Get Device SDR is not implemented); fw 1.00; IPMI 2.0; additional device support 0x8F:
  // chassis, FRU inventory, SEL, SDR repository, sensor (not IPMB event receiver or generator:
  // there is no IPMB and no Set Event Receiver); manufacturer (20 bits, LS first); product (LE).
  return [
    0x20,
    0x01,
    FIRMWARE_MAJOR,
    FIRMWARE_MINOR_BCD,
    0x02,
    0x8f,
    MANUFACTURER_ID & 0xff,
    (MANUFACTURER_ID >> 8) & 0xff,
    (MANUFACTURER_ID >> 16) & 0x0f,
    PRODUCT_ID & 0xff,
    PRODUCT_ID >> 8,
    0,
    0,
    0,
    0,
  ];
}

/** The user ID (Get User Access numbering: user 1 is the null user, accounts are 2…) of `username`; 0 when none. */
export function userIdOf(accounts: readonly BmcAccount[], username: string): number {
  const i = accounts.findIndex((a) => a.username === username);
  return i < 0 || i + 2 > 63 ? 0 : i + 2;
}

export const appCommands: CommandSpec[] = [
  {
    netFn: NETFN_APP,
    cmd: 0x01,
    name: 'Get Device ID',
    privilege: PRIV_USER,
    handler: () => ok(deviceId()),
  },
  // Cold Reset (0x02) and Warm Reset (0x03): the BMC's service restarts (host.ts): every session and
  // SOL ends, credentials are read again, the VM is not touched. The reply (cc 0) goes out first.
  // Without a host to restart us (a bare IpmiServer) the commands stay unknown (0xC1).
  ...[0x02, 0x03].map(
    (cmd): CommandSpec => ({
      netFn: NETFN_APP,
      cmd,
      name: cmd === 0x02 ? 'Cold Reset' : 'Warm Reset',
      privilege: PRIV_ADMIN,
      handler: (req, ctx) => {
        const reset = ctx.resetBmc;
        if (!reset) return fail(CC.INVALID_COMMAND);
        if (req.data.length !== 0) return fail(CC.DATA_LENGTH_INVALID);
        return { cc: CC.OK, after: reset };
      },
    }),
  ),
  {
    netFn: NETFN_APP,
    cmd: 0x04,
    name: 'Get Self Test Results',
    privilege: PRIV_USER,
    handler: () => ok([0x55, 0x00]),
  },
  {
    netFn: NETFN_APP,
    cmd: 0x06,
    name: 'Set ACPI Power State',
    privilege: PRIV_ADMIN,
    handler: (req, ctx) => {
      if (req.data.length !== 2) return fail(CC.DATA_LENGTH_INVALID);
      const sys = req.data[0]!;
      const dev = req.data[1]!;
      // bit7 = "set this state"; system states 0x00–0x0F, 0x20, 0x21, 0x2A, 0x7F; device 0x00–0x03, 0x2A.
      if (sys & 0x80) {
        const s = sys & 0x7f;
        if (!(s <= 0x0f || s === 0x20 || s === 0x21 || s === 0x2a || s === 0x7f))
          return fail(CC.INVALID_DATA_FIELD);
        ctx.bmc.acpi.system = s;
      }
      if (dev & 0x80) {
        const d = dev & 0x7f;
        if (!(d <= 0x03 || d === 0x2a || d === 0x7f)) return fail(CC.INVALID_DATA_FIELD);
        ctx.bmc.acpi.device = d;
      }
      return ok();
    },
  },
  {
    netFn: NETFN_APP,
    cmd: 0x07,
    name: 'Get ACPI Power State',
    privilege: PRIV_USER,
    handler: (_req, ctx) => {
      // The system state comes from the machine (S0/G0 working vs S5/G2 soft-off); the device
      // state is what system software last told us (D0 when never set).
      const on = isPowered(ctx.machine.getPowerState());
      const dev = ctx.bmc.acpi.device === 0x7f ? 0x00 : ctx.bmc.acpi.device;
      return ok([on ? 0x00 : 0x05, dev]);
    },
  },
  {
    netFn: NETFN_APP,
    cmd: 0x08,
    name: 'Get Device GUID',
    privilege: PRIV_USER,
    handler: (_req, ctx) => ok(deviceGuid(ctx.machine.getIdentity())),
  },
  {
    netFn: NETFN_APP,
    cmd: 0x37,
    name: 'Get System GUID',
    privilege: PRIV_USER,
    handler: (_req, ctx) => ok(systemGuid(ctx.machine.getIdentity())),
  },
  {
    netFn: NETFN_APP,
    cmd: 0x38,
    name: 'Get Channel Authentication Capabilities',
    privilege: 0,
    handler: (req, ctx) => {
      if (req.data.length !== 2) return fail(CC.DATA_LENGTH_INVALID);
      const wantV2 = (req.data[0]! & 0x80) !== 0;
      const priv = req.data[1]! & 0x0f;
      if (!channelOk(req.data[0]!) || priv < PRIV_CALLBACK || priv > 5) return fail(CC.INVALID_DATA_FIELD);
      return ok([
        LAN_CHANNEL,
        (wantV2 ? 0x80 : 0) | authTypeBits(ctx.allowAuthTypeNone),
        0x04, // non-null user names exist; per-message and user-level auth enabled; no anonymous login; no Kg
        0x03, // IPMI 1.5 and 2.0 connections
        0,
        0,
        0,
        0,
      ]);
    },
  },
  {
    netFn: NETFN_APP,
    cmd: 0x3b,
    name: 'Set Session Privilege Level',
    privilege: PRIV_USER,
    handler: (req, ctx) => {
      const s = ctx.session;
      if (!s) return fail(CC.INSUFFICIENT_PRIVILEGE);
      if (req.data.length !== 1) return fail(CC.DATA_LENGTH_INVALID);
      const level = req.data[0]! & 0x0f;
      if (level === 0) return ok([s.privilege]);
      if (level > 5 || level === PRIV_CALLBACK) return fail(0x80); // level not available for this user
      if (level > s.maxPrivilege) return fail(0x81); // exceeds user or channel limit
      s.privilege = level;
      return ok([level]);
    },
  },
  {
    netFn: NETFN_APP,
    cmd: 0x3c,
    name: 'Close Session',
    privilege: PRIV_CALLBACK,
    handler: (req, ctx) => {
      if (req.data.length !== 4 && req.data.length !== 5) return fail(CC.DATA_LENGTH_INVALID);
      let id = req.data.readUInt32LE(0);
      if (id === 0) {
        // By session handle (byte 4), as Get Session Info reports it.
        const handle = req.data.length === 5 ? req.data[4]! : 0;
        const found = handle === 0 ? undefined : ctx.sessions().find((s) => s.handle === handle);
        if (!found) return fail(0x88); // invalid session handle
        id = found.session.id;
      }
      const own = ctx.session?.id === id;
      // Closing another session needs ADMIN.
      if (!own && (ctx.session?.privilege ?? 0) < PRIV_ADMIN) return fail(CC.INSUFFICIENT_PRIVILEGE);
      if (!own && !ctx.hasSession(id)) return fail(0x87); // invalid session ID
      return { cc: CC.OK, after: () => void ctx.closeSession(id) };
    },
  },
  {
    netFn: NETFN_APP,
    cmd: 0x3d,
    name: 'Get Session Info',
    privilege: PRIV_USER,
    handler: (req, ctx) => {
      const q = decodeSessionInfoRequest(req.data);
      if ('cc' in q) return fail(q.cc);
      const sessions = ctx.sessions();
      const slots = Math.min(ctx.sessionSlots, 0x3f);
      let found: ActiveSession | undefined;
      switch (q.by) {
        case 'current':
          found = sessions.find((s) => s.session.id === ctx.session?.id);
          break;
        case 'index':
          if (q.index > slots) return fail(CC.INVALID_DATA_FIELD);
          found = sessions[q.index - 1];
          // An index with no active session: the first three bytes only.
          if (!found) return ok(encodeSessionInfo(slots, sessions.length));
          break;
        case 'handle':
          found = sessions.find((s) => s.handle === q.handle);
          break;
        case 'id':
          found = sessions.find((s) => s.session.id === q.id);
          break;
      }
      if (!found) return fail(CC.NOT_PRESENT);
      const s = found.session;
      return ok(
        encodeSessionInfo(slots, sessions.length, {
          handle: found.handle,
          userId: userIdOf(ctx.accounts(), s.username),
          privilege: s.privilege,
          rmcpPlus: found.rmcpPlus,
          channel: LAN_CHANNEL,
          address: s.source.address,
          port: s.source.port,
        }),
      );
    },
  },
  {
    netFn: NETFN_APP,
    cmd: 0x41,
    name: 'Get Channel Access',
    privilege: PRIV_USER,
    handler: (req) => {
      const q = decodeChannelAccessRequest(req.data);
      if ('cc' in q) return fail(q.cc);
      if (!channelOk(q.channel)) return fail(CC.INVALID_DATA_FIELD);
      // Volatile and non-volatile settings are the same (nothing can change them): no PEF alerts
      // (this BMC sends none), per-message and user-level authentication on (every in-session
      // message is authenticated), always available, ADMIN limit.
      return ok(
        encodeChannelAccess({
          alerting: false,
          perMessageAuth: true,
          userLevelAuth: true,
          accessMode: 2,
          privilegeLimit: PRIV_ADMIN,
        }),
      );
    },
  },
  {
    netFn: NETFN_APP,
    cmd: 0x42,
    name: 'Get Channel Info',
    privilege: PRIV_USER,
    handler: (req, ctx) => {
      if (req.data.length !== 1) return fail(CC.DATA_LENGTH_INVALID);
      if (!channelOk(req.data[0]!)) return fail(CC.INVALID_DATA_FIELD);
      const active = Math.min(ctx.activeSessions(), 0x3f);
      // 802.3 LAN, IPMB-1.0 protocol, multi-session, IPMI Forum IANA 0x001BF2.
      return ok([LAN_CHANNEL, 0x04, 0x01, 0x80 | active, 0xf2, 0x1b, 0x00, 0x00, 0x00]);
    },
  },
  {
    netFn: NETFN_APP,
    cmd: 0x44,
    name: 'Get User Access',
    privilege: PRIV_OPERATOR,
    handler: (req, ctx) => {
      if (req.data.length !== 2) return fail(CC.DATA_LENGTH_INVALID);
      if (!channelOk(req.data[0]!)) return fail(CC.INVALID_DATA_FIELD);
      const accounts = ctx.accounts();
      const max = Math.min(accounts.length + 1, 63);
      const uid = req.data[1]! & 0x3f;
      if (uid < 1 || uid > max) return fail(CC.INVALID_DATA_FIELD);
      // User 1 is the null user (never enabled); accounts are users 2….
      const account = uid === 1 ? undefined : accounts[uid - 2];
      const access = account ? 0x10 | roleLimit(account.role) : 0x0f; // IPMI messaging + limit, or NO ACCESS
      return ok([max, 0x40 | accounts.length, 0x01, access]);
    },
  },
  {
    netFn: NETFN_APP,
    cmd: 0x46,
    name: 'Get User Name',
    privilege: PRIV_OPERATOR,
    handler: (req, ctx) => {
      if (req.data.length !== 1) return fail(CC.DATA_LENGTH_INVALID);
      const accounts = ctx.accounts();
      const uid = req.data[0]! & 0x3f;
      if (uid < 1 || uid > accounts.length + 1) return fail(CC.INVALID_DATA_FIELD);
      const name = Buffer.alloc(16);
      if (uid >= 2) name.write(accounts[uid - 2]!.username, 'utf8');
      return ok(name);
    },
  },
  {
    netFn: NETFN_APP,
    cmd: 0x4e,
    name: 'Get Channel Payload Support',
    privilege: PRIV_USER,
    handler: (req, ctx) => {
      if (req.data.length !== 1) return fail(CC.DATA_LENGTH_INVALID);
      if (!channelOk(req.data[0]!)) return fail(CC.INVALID_DATA_FIELD);
      // IPMI payload (bit0), SOL (bit1) when registered; session-setup payloads 0x10–0x15.
      return ok([ctx.hasPayload(1) ? 0x03 : 0x01, 0x00, 0x3f, 0x00, 0x00, 0x00, 0x00, 0x00]);
    },
  },
  {
    netFn: NETFN_APP,
    cmd: 0x54,
    name: 'Get Channel Cipher Suites',
    privilege: 0,
    handler: (req) => {
      if (req.data.length !== 3) return fail(CC.DATA_LENGTH_INVALID);
      if (!channelOk(req.data[0]!)) return fail(CC.INVALID_DATA_FIELD);
      if (req.data[1]! > 1) return fail(CC.INVALID_DATA_FIELD);
      const records = cipherSuiteRecords();
      const byAlgorithm = (req.data[2]! & 0x80) === 0;
      const stream = byAlgorithm
        ? Buffer.from([...new Set(records.filter((_, i) => i % 5 >= 2))].sort((a, b) => a - b))
        : records;
      const index = req.data[2]! & 0x3f;
      const chunk = stream.subarray(index * 16, index * 16 + 16);
      return ok(Buffer.concat([Buffer.from([LAN_CHANNEL]), chunk]));
    },
  },
];
