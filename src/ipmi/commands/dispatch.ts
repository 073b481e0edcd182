import type { IpmiRequest } from '../codec/message.ts';
import { appCommands } from './app.ts';
import { bootOptionCommands } from './boot-options.ts';
import { chassisCommands } from './chassis.ts';
import { completionCodeFor } from './errors.ts';
import { sensorCommands } from './sensors.ts';
import { storageCommands } from './storage.ts';
import { transportCommands } from './transport.ts';
import { CC, type CommandContext, type CommandResult, type CommandSpec, NETFN_PICMG } from './types.ts';

export const ALL_COMMANDS: readonly CommandSpec[] = [
  ...appCommands,
  ...chassisCommands,
  ...bootOptionCommands,
  ...sensorCommands,
  ...storageCommands,
  ...transportCommands,
];

const TABLE = new Map<number, CommandSpec>();
for (const c of ALL_COMMANDS) TABLE.set((c.netFn << 8) | c.cmd, c);

export function findCommand(netFn: number, cmd: number): CommandSpec | undefined {
  return TABLE.get((netFn << 8) | cmd);
}

const INVALID: CommandResult = { cc: CC.INVALID_COMMAND };
const NO_PRIVILEGE: CommandResult = { cc: CC.INSUFFICIENT_PRIVILEGE };

/**
 * Runs one request: netFn 0x2C (PICMG/HPM/VSO probes) → exactly 0xC1 before anything else;
 * unknown → 0xC1; `extra` (a server's registered commands, e.g. SOL's) win over the built-ins; below the command's privilege → 0xD4; Machine errors → their completion code.
 * Never throws.
 */
export function dispatch(
  req: IpmiRequest,
  ctx: CommandContext,
  extra?: ReadonlyMap<number, CommandSpec>,
): CommandResult | Promise<CommandResult> {
  if (req.netFn === NETFN_PICMG || (req.netFn & 1) === 1) return INVALID;
  const key = (req.netFn << 8) | req.cmd;
  const spec = extra?.get(key) ?? TABLE.get(key);
  if (!spec) return INVALID;
  const privilege = ctx.session ? ctx.session.privilege : 0;
  if (spec.privilege > privilege) return NO_PRIVILEGE;
  try {
    const r = spec.handler(req, ctx);
    if (r instanceof Promise) return r.catch((err) => ({ cc: completionCodeFor(err) }));
    return r;
  } catch (err) {
    return { cc: completionCodeFor(err) };
  }
}
