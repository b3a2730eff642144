import type { DeviceOptions, Machine, MachineOptions } from '@ioasid/core';
import { kitMachine } from '../kit.js';
import type { KitEnv } from '../types.js';

/** A kit machine with the adversarial case's own devices (kit machines otherwise always have KIT_DEVICES). */
export function machineWith(env: KitEnv, devices: DeviceOptions[], extra: Partial<MachineOptions> = {}): Machine {
  return kitMachine(env, devices, extra);
}

export const MiB = 1n << 20n;
export const GiB = 1n << 30n;

/** Host frames nobody holds, when the core says (`framesFree`, or `freeFrames`). */
export function framesFree(m: Machine): number | undefined {
  const mem = m.hostMemory as unknown as { framesFree?: unknown; freeFrames?: unknown };
  const f = mem.framesFree ?? mem.freeFrames;
  return typeof f === 'number' ? f : undefined;
}

/** Host frames of the machine, when the core says (`totalFrames`), else from the size asked for. */
export function framesTotal(m: Machine, asked: bigint): number {
  const t = (m.hostMemory as unknown as { totalFrames?: unknown }).totalFrames;
  return typeof t === 'number' ? t : Number(asked / 4096n);
}
