export { IpmiServer, type IpmiServerOptions } from './server.ts';
export type { PayloadHandler, PayloadSender } from './session/payloads.ts';
