import { isPowered } from '../../machine/index.ts';
import { encodeCompactDiscreteSensor, encodeDiscreteReading } from '../codec/sdr.ts';
import { PRIV_USER } from '../session/session.ts';
import { CC, type CommandContext, type CommandSpec, fail, NETFN_SENSOR, ok } from './types.ts';

/** Sensor type 0x22 (System ACPI Power State) offsets this BMC reports (IPMI 2.0 table 42-3). */
export const ACPI_S0_G0_WORKING = 0;
export const ACPI_S5_G2_SOFT_OFF = 5;

export interface Sensor {
  readonly number: number;
  /** The sensor's SDR (its record ID is in bytes 0–1). */
  readonly record: Buffer;
  /** The asserted states (bits 0–14) now. */
  readonly states: (ctx: CommandContext) => number;
}

/**
 * The sensors: only what the Machine tells us truthfully. A VM has no temperatures, fans, voltages
 * or power supplies a BMC could measure; it has a power state. "ACPI Power State" (sensor 1, System
 * ACPI Power State, sensor-specific discrete): S0/G0 "working" while the machine holds power (the
 * Machine's `On`, `PoweringOff`, `Paused`: the same rule as Get Chassis Status' power bit), S5/G2
 * "soft-off" otherwise; the same answer as Get ACPI Power State (App 0x07).
 */
export const SENSORS: readonly Sensor[] = [
  {
    number: 0x01,
    record: encodeCompactDiscreteSensor({
      recordId: 2,
      ownerId: 0x20,
      sensorNumber: 0x01,
      entityId: 0x07, // system board
      entityInstance: 1,
      sensorType: 0x22,
      readingType: 0x6f,
      readableStates: (1 << ACPI_S0_G0_WORKING) | (1 << ACPI_S5_G2_SOFT_OFF),
      name: 'ACPI Power State',
    }),
    states: (ctx) => 1 << (isPowered(ctx.machine.getPowerState()) ? ACPI_S0_G0_WORKING : ACPI_S5_G2_SOFT_OFF),
  },
];

export const sensorCommands: CommandSpec[] = [
  {
    netFn: NETFN_SENSOR,
    cmd: 0x2d,
    name: 'Get Sensor Reading',
    privilege: PRIV_USER,
    handler: (req, ctx) => {
      if (req.data.length !== 1) return fail(CC.DATA_LENGTH_INVALID);
      const sensor = SENSORS.find((s) => s.number === req.data[0]);
      if (!sensor) return fail(CC.NOT_PRESENT);
      return ok(encodeDiscreteReading(sensor.states(ctx)));
    },
  },
];
