import type { RmcpPlusSession } from './session.ts';

/**
 * RMCP+ payload handlers beyond the IPMI message payload (type 0). Serial over LAN (type 1)
 * plugs in here: the server verifies, decrypts and replay-checks every in-session packet, then
 * hands the plain payload to the handler registered for its type; the handler answers through
 * `PayloadSender`, which protects the packet with the session's keys and sequence counter.
 * Session end (Close Session, idle timeout, server close) reaches the handler through the
 * session's `closeListeners`.
 */
export interface PayloadSender {
  send(session: RmcpPlusSession, payloadType: number, payload: Uint8Array): void;
  /** The UDP port the server listens on (SOL's Activate Payload reports it). */
  readonly port: number;
}

export type PayloadHandler = (session: RmcpPlusSession, payload: Buffer, sender: PayloadSender) => void;
