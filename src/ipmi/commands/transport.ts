import { encodeBadPasswordThreshold } from '../codec/channel.ts';
import { CIPHER_SUITES } from '../crypto/suites.ts';
import { PRIV_OPERATOR } from '../session/session.ts';
import { authTypeBits, LAN_CHANNEL } from './app.ts';
import { CC, type CommandContext, type CommandSpec, fail, NETFN_TRANSPORT, ok } from './types.ts';

function ipv4(text: string): number[] {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])] : [0, 0, 0, 0];
}

/**
 * LAN configuration parameters, one entry per parameter `ipmitool lan print` reads. Addresses
 * describe where this BMC listens; what a virtual BMC does not have (MAC, gateways, VLAN) is zero.
 */
export function lanParameter(param: number, ctx: CommandContext): number[] | null {
  const authBits = authTypeBits(ctx.allowAuthTypeNone);
  switch (param) {
    case 0: // set in progress
      return [0x00];
    case 1: // authentication type support
      return [authBits];
    case 2: // authentication type enables per privilege level: callback, user, operator, admin, OEM
      return [authBits, authBits, authBits, authBits, 0x00];
    case 3: // IP address
      return ipv4(ctx.bmc.listenAddress);
    case 4: // IP address source: static
      return [0x01];
    case 5: // MAC address
      return [0, 0, 0, 0, 0, 0];
    case 6: // subnet mask
      return ctx.bmc.listenAddress.startsWith('127.') ? [255, 0, 0, 0] : [0, 0, 0, 0];
    case 7: // IPv4 header: TTL 64, don't fragment, precedence 0 / TOS minimize delay
      return [0x40, 0x40, 0x10];
    case 10: // BMC-generated ARP control: none
      return [0x00];
    case 11: // gratuitous ARP interval
      return [0x00];
    case 12: // default gateway IP
    case 14: // backup gateway IP
      return [0, 0, 0, 0];
    case 13: // default gateway MAC
    case 15: // backup gateway MAC
      return [0, 0, 0, 0, 0, 0];
    case 16: // community string
      return [...Buffer.from('public'.padEnd(18, '\0'), 'latin1')];
    case 20: // 802.1q VLAN ID: disabled
      return [0x00, 0x00];
    case 21: // VLAN priority
      return [0x00];
    case 22: // cipher suite entry support
      return [CIPHER_SUITES.length];
    case 23: // cipher suite entries
      return [0x00, ...CIPHER_SUITES.map((s) => s.id)];
    case 24: {
      // maximum privilege per cipher suite (nibbles, first entry in the low nibble); ADMIN for all
      const out = new Array<number>(9).fill(0);
      for (let i = 0; i < CIPHER_SUITES.length; i++) out[1 + (i >> 1)]! |= 0x4 << ((i & 1) * 4);
      return out;
    }
    case 26: {
      // Bad password threshold: the per-user-name budget of the failed-login policy
      // (src/machine/login-limits.ts): after `accountBurst` failures a name is refused until one
      // failure is forgiven (`accountRefillMs`), and a failure is forgiven every `accountRefillMs`
      // without one. See docs/ipmi.md for what the field cannot say.
      const l = ctx.loginLimits;
      return [
        ...encodeBadPasswordThreshold({
          threshold: l.accountBurst,
          resetIntervalMs: l.accountRefillMs,
          lockoutMs: l.accountRefillMs,
        }),
      ];
    }
    default:
      return null;
  }
}

export const transportCommands: CommandSpec[] = [
  {
    netFn: NETFN_TRANSPORT,
    cmd: 0x02,
    name: 'Get LAN Configuration Parameters',
    privilege: PRIV_OPERATOR,
    handler: (req, ctx) => {
      if (req.data.length !== 4) return fail(CC.DATA_LENGTH_INVALID);
      const channel = req.data[0]! & 0x0f;
      if (channel !== 0x0e && channel !== LAN_CHANNEL) return fail(CC.INVALID_DATA_FIELD);
      if (req.data[0]! & 0x80) return ok([0x11]); // revision only
      const data = lanParameter(req.data[1]!, ctx);
      if (!data) return fail(0x80); // parameter not supported
      return ok([0x11, ...data]);
    },
  },
];
