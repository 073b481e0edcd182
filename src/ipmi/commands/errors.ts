import { isMachineError } from '../../machine/index.ts';
import { CC } from './types.ts';

/** The one place Machine errors become completion codes (see src/machine/errors.ts). */
export function completionCodeFor(err: unknown): number {
  if (!isMachineError(err)) return CC.UNSPECIFIED;
  switch (err.code) {
    case 'NotSupported':
    case 'InvalidArgument':
      return CC.INVALID_DATA_FIELD;
    case 'InvalidState':
    case 'NotFound':
      return CC.NOT_IN_PRESENT_STATE;
    case 'Conflict':
    case 'BackendUnavailable':
      return CC.NODE_BUSY;
  }
}
