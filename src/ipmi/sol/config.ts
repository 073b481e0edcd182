/**
 * SOL configuration parameters (Get/Set SOL Configuration Parameters, netFn 0x0C cmd 0x22/0x21):
 * the values, their byte layouts (exact lengths, as `ipmitool sol info` checks) and validation.
 */

export const SOL_PARAMETER_REVISION = 0x11;

export interface SolConfig {
  /** Parameter 0: 0 set complete, 1 set in progress. */
  setInProgress: number;
  /** Parameter 1: SOL may be activated. */
  enabled: boolean;
  /** Parameter 2: refuse activation in sessions without encryption / without integrity. */
  forceEncryption: boolean;
  forceAuthentication: boolean;
  /** Parameter 2: minimum session privilege to activate SOL (1–4). */
  privilege: number;
  /** Parameter 3: character accumulate interval in 5 ms units (1–255) and send threshold (1–255). */
  accumulateInterval: number;
  sendThreshold: number;
  /** Parameter 4: retries of an unacknowledged packet (0–7) and the interval in 10 ms units. */
  retryCount: number;
  retryInterval: number;
  /** Parameters 5 and 6: bit rate codes (6 = 9600 … 10 = 115200); informational for a virtual UART. */
  nonVolatileBitRate: number;
  volatileBitRate: number;
}

export function defaultSolConfig(): SolConfig {
  return {
    setInProgress: 0,
    enabled: true,
    forceEncryption: true,
    forceAuthentication: true,
    // OPERATOR, not the spec's usual USER: whoever holds the console can type into the VM, which a
    // read-only account must not. ipmitool, ipmiconsole and pyghmi use ADMIN sessions anyway.
    privilege: 3,
    accumulateInterval: 10,
    sendThreshold: 1,
    retryCount: 7,
    retryInterval: 10,
    nonVolatileBitRate: 10,
    volatileBitRate: 10,
  };
}

/** The payload channel reported in parameter 7 (the LAN channel). */
export const SOL_CHANNEL = 1;

/** Parameter data (without the revision byte), or null for a parameter we do not have. */
export function getSolParameter(c: SolConfig, param: number, port: number): number[] | null {
  switch (param) {
    case 0:
      return [c.setInProgress];
    case 1:
      return [c.enabled ? 1 : 0];
    case 2:
      return [(c.forceEncryption ? 0x80 : 0) | (c.forceAuthentication ? 0x40 : 0) | c.privilege];
    case 3:
      return [c.accumulateInterval, c.sendThreshold];
    case 4:
      return [c.retryCount, c.retryInterval];
    case 5:
      return [c.nonVolatileBitRate];
    case 6:
      return [c.volatileBitRate];
    case 7:
      return [SOL_CHANNEL];
    case 8:
      return [port & 0xff, (port >> 8) & 0xff];
    default:
      return null;
  }
}

/** Completion codes of Set SOL Configuration Parameters. */
export const SET_OK = 0x00;
export const SET_NOT_SUPPORTED = 0x80;
export const SET_IN_PROGRESS = 0x81;
export const SET_READ_ONLY = 0x82;
export const SET_INVALID = 0xcc;
export const SET_LENGTH = 0xc7;

const BIT_RATES = new Set([0, 6, 7, 8, 9, 10]);

/**
 * Applies one Set SOL Configuration Parameters request to `c`; returns its completion code. A
 * request that is refused changes nothing.
 */
export function setSolParameter(c: SolConfig, param: number, data: Uint8Array): number {
  const need = (n: number) => data.length === n;
  switch (param) {
    case 0: {
      if (!need(1)) return SET_LENGTH;
      const v = data[0]! & 0x03;
      if (v === 3) return SET_INVALID;
      if (v === 1 && c.setInProgress === 1) return SET_IN_PROGRESS;
      c.setInProgress = v === 1 ? 1 : 0; // 2 = commit write: nothing is staged, so it completes
      return SET_OK;
    }
    case 1:
      if (!need(1)) return SET_LENGTH;
      c.enabled = (data[0]! & 1) === 1;
      return SET_OK;
    case 2: {
      if (!need(1)) return SET_LENGTH;
      const priv = data[0]! & 0x0f;
      if (priv < 1 || priv > 4) return SET_INVALID;
      c.forceEncryption = (data[0]! & 0x80) !== 0;
      c.forceAuthentication = (data[0]! & 0x40) !== 0;
      c.privilege = priv;
      return SET_OK;
    }
    case 3:
      if (!need(2)) return SET_LENGTH;
      if (data[0] === 0 || data[1] === 0) return SET_INVALID;
      c.accumulateInterval = data[0]!;
      c.sendThreshold = data[1]!;
      return SET_OK;
    case 4:
      if (!need(2)) return SET_LENGTH;
      if ((data[0]! & 0xf8) !== 0) return SET_INVALID;
      c.retryCount = data[0]!;
      c.retryInterval = data[1]!;
      return SET_OK;
    case 5:
    case 6:
      if (!need(1)) return SET_LENGTH;
      if (!BIT_RATES.has(data[0]! & 0x0f)) return SET_INVALID;
      if (param === 5) c.nonVolatileBitRate = data[0]! & 0x0f;
      else c.volatileBitRate = data[0]! & 0x0f;
      return SET_OK;
    case 7:
    case 8:
      return SET_READ_ONLY;
    default:
      return SET_NOT_SUPPORTED;
  }
}
