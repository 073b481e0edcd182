export { decodeSol, encodeSol, PAYLOAD_SOL, type SolPacket } from './codec.ts';
export { defaultSolConfig, type SolConfig } from './config.ts';
export { SolInstance } from './instance.ts';
export { Sol, type SolHost, type SolOptions } from './sol.ts';
