import type { PowerAction, PowerState } from '../machine/index.ts';
import { KubeApiError } from './errors.ts';
import type { RunStrategy } from './types.ts';

/**
 * Power actions mapped onto KubeVirt's subresources (`subresources.kubevirt.io/v1`), as a pure plan.
 * The run strategy is never written by this backend: `start`/`stop`/`restart` apply KubeVirt's own
 * rules for each strategy (for Halted, KubeVirt's `start` itself switches it to Always, as virtctl does).
 *
 * | Action           | Current state          | KubeVirt call(s)                                                     |
 * |------------------|------------------------|----------------------------------------------------------------------|
 * | On               | Off, PoweringOff       | VM `start` ("already running" = success)                             |
 * | On               | On, PoweringOn, Paused | none                                                                 |
 * | GracefulShutdown | On, PoweringOn         | VM `stop` ("not running" = success)                                  |
 * | GracefulShutdown | Off, PoweringOff       | none                                                                 |
 * | GracefulShutdown | Paused                 | refused: a paused guest cannot shut down                             |
 * | ForceOff         | not Off                | VM `stop {gracePeriod: 0}`                                           |
 * | ForceRestart     | On                     | VMI `reset`; else (no reset, or boot change pending) VM `restart {gracePeriodSeconds: 0}` |
 * | ForceRestart     | PoweringOn/Off, Paused | VM `restart {gracePeriodSeconds: 0}`                                 |
 * | ForceRestart     | Off                    | refused (InvalidState)                                               |
 * | GracefulRestart  | On                     | VMI `softreboot`; else (guest cannot, or boot change pending) VM `restart` |
 * | PowerCycle       | Off                    | VM `start`                                                           |
 * | PowerCycle       | otherwise              | VM `restart {gracePeriodSeconds: 0}` (power removed, no guest involvement) |
 * | Pause            | On                     | VMI `pause` ("already paused" = success)                             |
 * | Resume           | Paused                 | VMI `unpause` ("not paused" = success)                               |
 * | Nmi              | —                      | NotSupported: KubeVirt has no NMI API                                |
 */

export interface PowerStep {
  readonly resource: 'virtualmachines' | 'virtualmachineinstances';
  readonly action: string;
  readonly body: Record<string, unknown>;
  /** When this step fails with an error it matches, the next step is tried instead. */
  readonly fallbackIf?: (err: KubeApiError) => boolean;
}

export type PowerPlan =
  | { readonly kind: 'noop' }
  | { readonly kind: 'invalid'; readonly message: string }
  | {
      readonly kind: 'call';
      readonly steps: readonly PowerStep[];
      /** A refusal matching this means the machine is already where the action leads: success. */
      readonly alreadyDone?: RegExp;
    };

export const SUPPORTED_ACTIONS: readonly PowerAction[] = [
  'On',
  'GracefulShutdown',
  'ForceOff',
  'GracefulRestart',
  'ForceRestart',
  'PowerCycle',
  'Pause',
  'Resume',
];

export interface PowerContext {
  readonly state: PowerState;
  readonly strategy: RunStrategy;
  /** The template's boot configuration differs from the running VMI's: only a new VMI applies it. */
  readonly bootChangePending: boolean;
  /** False once the cluster proved it has no VMI `reset` (KubeVirt before 1.5). */
  readonly resetSupported: boolean;
  readonly softRebootSupported: boolean;
}

/** A 404/405 that is about the route, not about a missing VM/VMI: the cluster lacks this subresource. */
export function isUnsupportedRoute(err: KubeApiError): boolean {
  if (err.status === 405) return true;
  return err.status === 404 && !err.details?.name;
}

const START: PowerStep = { resource: 'virtualmachines', action: 'start', body: {} };

export function planPower(action: PowerAction, c: PowerContext): PowerPlan {
  const { state } = c;
  const powered = state !== 'Off';
  switch (action) {
    case 'On':
      if (state === 'Off' || state === 'PoweringOff')
        return { kind: 'call', steps: [START], alreadyDone: /already running/i };
      return { kind: 'noop' };
    case 'GracefulShutdown':
      if (state === 'Off' || state === 'PoweringOff') return { kind: 'noop' };
      if (state === 'Paused') {
        return {
          kind: 'invalid',
          message: 'The VM is paused and cannot shut itself down; resume it first, or force it off.',
        };
      }
      return {
        kind: 'call',
        steps: [{ resource: 'virtualmachines', action: 'stop', body: {} }],
        alreadyDone: /not running/i,
      };
    case 'ForceOff':
      if (state === 'Off') return { kind: 'noop' };
      return {
        kind: 'call',
        steps: [{ resource: 'virtualmachines', action: 'stop', body: { gracePeriod: 0 } }],
        alreadyDone: /not running|shorter grace ?period/i,
      };
    case 'ForceRestart': {
      if (!powered) return { kind: 'invalid', message: 'A reset needs a powered-on VM; it is Off.' };
      const restart: PowerStep = {
        resource: 'virtualmachines',
        action: 'restart',
        body: { gracePeriodSeconds: 0 },
      };
      if (c.bootChangePending || !c.resetSupported || state !== 'On') {
        return { kind: 'call', steps: [restart] };
      }
      return {
        kind: 'call',
        steps: [
          {
            resource: 'virtualmachineinstances',
            action: 'reset',
            body: {},
            fallbackIf: (err) => isUnsupportedRoute(err) || /non-running/i.test(err.message),
          },
          restart,
        ],
      };
    }
    case 'GracefulRestart': {
      if (state !== 'On')
        return { kind: 'invalid', message: `A graceful restart needs a running VM; it is ${state}.` };
      const restart: PowerStep = { resource: 'virtualmachines', action: 'restart', body: {} };
      if (c.bootChangePending || !c.softRebootSupported) return { kind: 'call', steps: [restart] };
      return {
        kind: 'call',
        steps: [
          {
            resource: 'virtualmachineinstances',
            action: 'softreboot',
            body: {},
            fallbackIf: (err) => isUnsupportedRoute(err) || /agent|ACPI/i.test(err.message),
          },
          restart,
        ],
      };
    }
    case 'PowerCycle':
      if (state === 'Off') return { kind: 'call', steps: [START], alreadyDone: /already running/i };
      return {
        kind: 'call',
        steps: [{ resource: 'virtualmachines', action: 'restart', body: { gracePeriodSeconds: 0 } }],
      };
    case 'Pause':
      if (state === 'Paused') return { kind: 'noop' };
      if (state !== 'On')
        return { kind: 'invalid', message: `Only a running VM can be paused; it is ${state}.` };
      return {
        kind: 'call',
        steps: [{ resource: 'virtualmachineinstances', action: 'pause', body: {} }],
        alreadyDone: /already paused/i,
      };
    case 'Resume':
      if (state === 'On') return { kind: 'noop' };
      if (state !== 'Paused')
        return { kind: 'invalid', message: `Only a paused VM can be resumed; it is ${state}.` };
      return {
        kind: 'call',
        steps: [{ resource: 'virtualmachineinstances', action: 'unpause', body: {} }],
        alreadyDone: /not paused/i,
      };
    default:
      return { kind: 'invalid', message: `KubeVirt cannot perform ${action}.` };
  }
}

/** Runs a plan's steps in order, falling through to the next step only on a matching error. */
export async function runPowerPlan(
  steps: readonly PowerStep[],
  call: (step: PowerStep) => Promise<unknown>,
  onFallback?: (step: PowerStep, err: KubeApiError) => void,
): Promise<PowerStep> {
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    try {
      await call(step);
      return step;
    } catch (err) {
      const last = i === steps.length - 1;
      if (!last && err instanceof KubeApiError && step.fallbackIf?.(err)) {
        onFallback?.(step, err);
        continue;
      }
      throw err;
    }
  }
  throw new Error('empty power plan');
}
