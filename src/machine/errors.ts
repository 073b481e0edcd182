/**
 * Typed errors of the Machine seam. Every Machine method that can fail rejects with one of these,
 * so protocol code can map each to its own vocabulary (an IPMI completion code, a Redfish status and
 * Base message) without knowing which backend is behind the interface.
 *
 * | code                 | meaning                                                  | IPMI  | Redfish |
 * |----------------------|----------------------------------------------------------|-------|---------|
 * | `NotSupported`       | this machine can never do this (no NMI, no CD-ROM drive)  | 0xC1/0xCC | 400 ActionNotSupported |
 * | `InvalidState`       | not now: the current state forbids it (pause while off)  | 0xD5  | 409 |
 * | `Conflict`           | a concurrent change won; retrying later may succeed      | 0xC0  | 409 |
 * | `InvalidArgument`    | the request itself is wrong (bad URL, unknown slot)      | 0xCC  | 400 |
 * | `NotFound`           | the backing object is gone (VM deleted)                  | 0xD5  | 404 |
 * | `BackendUnavailable` | the backend cannot be reached or is not synced yet       | 0xC0  | 503 |
 */
export type MachineErrorCode =
  | 'NotSupported'
  | 'InvalidState'
  | 'Conflict'
  | 'InvalidArgument'
  | 'NotFound'
  | 'BackendUnavailable';

export class MachineError extends Error {
  readonly code: MachineErrorCode;
  /** True when the same request may succeed if retried later without change. */
  readonly retryable: boolean;

  constructor(code: MachineErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = `${code}Error`;
    this.code = code;
    this.retryable = code === 'Conflict' || code === 'BackendUnavailable';
  }
}

export class NotSupportedError extends MachineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NotSupported', message, options);
  }
}

export class InvalidStateError extends MachineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('InvalidState', message, options);
  }
}

export class ConflictError extends MachineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('Conflict', message, options);
  }
}

export class InvalidArgumentError extends MachineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('InvalidArgument', message, options);
  }
}

export class NotFoundError extends MachineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NotFound', message, options);
  }
}

export class BackendUnavailableError extends MachineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BackendUnavailable', message, options);
  }
}

export function isMachineError(err: unknown): err is MachineError {
  return err instanceof MachineError;
}
