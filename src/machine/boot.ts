import type { BootMode, BootOverride, BootOverrideRequest } from './types.ts';

/**
 * Applies a boot-override request to the current override with the normalisations the Machine
 * contract states: target `None` ⇔ persistence `Disabled`; a real target set while disabled (with no
 * persistence given) becomes `Once`. Pure: backends call it so every one normalises alike.
 */
export function applyBootRequest(current: BootOverride, request: BootOverrideRequest): BootOverride {
  const mode = request.mode ?? current.mode;
  let target = request.target ?? current.target;
  let persistence = request.persistence ?? current.persistence;
  if (request.target === 'None' || (request.target === undefined && request.persistence === 'Disabled')) {
    target = 'None';
    persistence = 'Disabled';
  } else if (target === 'None') {
    persistence = 'Disabled';
  } else if (persistence === 'Disabled') {
    // A real target with an explicit Disabled means "no override"; without one it means "next boot".
    if (request.persistence === 'Disabled') target = 'None';
    else persistence = 'Once';
  }
  return { target, persistence, mode };
}

export function sameBootOverride(a: BootOverride, b: BootOverride): boolean {
  return a.target === b.target && a.persistence === b.persistence && a.mode === b.mode;
}

/**
 * The rule a server's firmware follows for the boot mode (UEFI or Legacy) that comes with a
 * boot-device request. Redfish ties `BootSourceOverrideMode` to the override ("the BIOS boot mode to
 * use when the system boots from the BootSourceOverrideTarget boot source") and IPMI's boot flags
 * carry the boot type next to their "next boot only / all future boots" bit, so:
 *
 * - a `Once` override's mode applies to that one boot; afterwards the machine boots in its own
 *   firmware mode again (`firmware` is unchanged);
 * - a `Continuous` override's mode is the machine's mode from then on;
 * - with the override `Disabled`, a mode that differs from the one reported is a change of the
 *   machine's firmware mode; a request that only repeats it (or names none) keeps the firmware.
 *
 * `firmware` is the machine's own mode (what it boots when no override applies); `current` is the
 * override as reported (during a pending `Once`, with that boot's mode). Returns the override to
 * report and the machine's firmware mode after the request.
 */
export function resolveBootRequest(
  current: BootOverride,
  firmware: BootMode,
  request: BootOverrideRequest,
): { next: BootOverride; firmware: BootMode } {
  const next = applyBootRequest(current, request);
  if (next.persistence === 'Continuous') return { next, firmware: next.mode };
  if (next.persistence === 'Once') return { next, firmware };
  const changed = request.mode !== undefined && request.mode !== current.mode;
  const mode = changed ? request.mode! : firmware;
  return { next: { ...next, mode }, firmware: mode };
}
