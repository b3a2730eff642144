import type { IdAllocator } from '@ioasid/core';
import type { ProbedUnit } from './probe.js';
import type { Streams } from './streams.js';

/** What the driver's parts share: the probed unit, its StreamIDs and the VMID / ASID allocators. */
export interface SmmuKernel extends ProbedUnit {
  readonly streams: Streams;
  readonly vmids: IdAllocator;
  readonly asids: IdAllocator;
}
