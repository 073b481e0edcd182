export type { CommandContext, CommandResult, CommandSpec } from './commands/types.ts';
export { IpmiServer, type IpmiServerOptions } from './server.ts';
export type { PayloadHandler, PayloadSender } from './session/payloads.ts';
export type { RmcpPlusSession, Session } from './session/session.ts';
