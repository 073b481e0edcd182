import type { BootOverride, BootOverrideRequest } from './types.ts';

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
