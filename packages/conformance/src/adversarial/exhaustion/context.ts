import type { Machine } from '@ioasid/core';
import { ConformanceFailure } from '../../kit.js';
import type { Window } from '../../properties/common.js';
import type { KitEnv } from '../../types.js';
import { attempt } from '../api.js';
import { MiB, machineWith } from '../machine.js';
import type { Tally } from '../tally.js';
import { EXHAUSTION_DEVICES, Witness } from './witness.js';

/** A small finite host, so that exhausting it is fast. */
export const SMALL_HOST = 256n * MiB;
/** Guest RAM of exhaustion machines (small: it is reserved with huge pages at creation). */
const GUEST = 4n * MiB;

export interface Phase {
  env: KitEnv;
  w: Window;
  tally: Tally;
  /** Operations a phase may do at most (the budget), per loop. */
  maxOps: number;
}

/** A machine of `hostMemory` bytes (the vendor's default when undefined) with a victim fd. */
export function exhaustionMachine(p: Phase, hostMemory: bigint | undefined): { m: Machine; witness: Witness } {
  const extra = hostMemory === undefined ? { guestMemory: GUEST } : { guestMemory: GUEST, hostMemory };
  const r = attempt(`createMachine({ hostMemory: ${hostMemory ?? 'default'} })`, () => machineWith(p.env, EXHAUSTION_DEVICES, extra));
  if (!r.ok) throw new ConformanceFailure(`exhaustion: a machine with hostMemory ${hostMemory === undefined ? '(default)' : `${hostMemory / MiB} MiB`} was refused: ${r.error?.message ?? ''}`);
  return { m: r.value, witness: Witness.create(r.value, p.w) };
}
