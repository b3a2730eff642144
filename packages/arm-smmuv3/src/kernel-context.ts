import type { IdAllocator, IovaRange } from '@ioasid/core';
import type { LpaeFormat } from './formats/lpae.js';
import type { ProbedUnit } from './probe.js';
import type { Streams } from './streams.js';

/**
 * What the driver's parts share (Linux struct arm_smmu_device): the probed unit, its StreamIDs,
 * the VMID / ASID allocators and the formats of kernel-managed tables. Domains hold it and call
 * the master code with it directly.
 */
export interface SmmuKernel extends ProbedUnit {
  readonly streams: Streams;
  readonly vmids: IdAllocator;
  readonly asids: IdAllocator;
  /** Stage 2 tables, and the stage 1 copy used through CDs (both output PAs: at most OAS bits). */
  readonly s2Format: LpaeFormat;
  readonly s1CopyFormat: LpaeFormat;
  /** What a kernel-managed domain allows (fixed by the probe, frozen). */
  mapDomainInfo(): { pageSizes: bigint[]; permittedRanges: IovaRange[] };
  mapPageSizes(): bigint[];
}
