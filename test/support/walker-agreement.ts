/**
 * The contract between the root walker-vs-engine agreement suite (test/walker-agreement.test.ts)
 * and each vendor's harness (packages/<vendor>/test/agreement-harness.ts): a hardware unit walking
 * a table the engine built, and the calls the suite needs to drive and read it.
 */
import type fc from 'fast-check';
import type { FaultRecord, PhysRuns, RadixPageTable } from '@ioasid/core';

/** The hardware over one page table, set up by a vendor harness. Input frames are 4 KiB frames counted from the table's first input. */
export interface AgreementRig {
  /** The table the hardware walks, as the engine sees it: the suite's reference is its `lookup`. */
  readonly table: RadixPageTable;
  /** The stage-2 table every output of `table` goes through (nested); it must map every output the suite uses, read and write. */
  readonly outer?: RadixPageTable;
  /** The hardware translates inputs [0, inputFrames) through this table. */
  readonly inputFrames: number;
  /** Output frames the suite may map to: first (aligned to the largest leaf) and count. */
  readonly output: { readonly first: number; readonly frames: number };
  /** The permission sets the format holds (PROT_READ / PROT_WRITE combinations). */
  readonly prots: readonly number[];
  /** False for input ranges this rig's kernel refuses to map (outside a window, a permitted-range hole). */
  canMap?(frame: number, frames: number): boolean;
  /** Maps as the rig's kernel does (the engine on the table, or the vendor's driver domain). */
  map(frame: number, frames: number, runs: PhysRuns, prot: number): void;
  /** Unmaps a range `map` mapped and makes the hardware forget it, as the rig's kernel must. Absent: the suite never unmaps. */
  unmap?(frame: number, frames: number): void;
  /** What the hardware answers for a DMA to input `frame`: the output frame or its fault record. */
  translate(frame: number, write: boolean): number | FaultRecord;
  /** After every translation: clear what a fault leaves behind (POWER freezes the PE), drain event queues. */
  afterTranslate?(): void;
  /** The fault the hardware names for an input its table does not map ('absent') or an access the entry does not grant ('denied'). */
  faultName(kind: 'absent' | 'denied', write: boolean): string;
}

/** One row of the table-driven suite. */
export interface AgreementCase<C = undefined> {
  readonly name: string;
  /** A random hardware configuration per property run (a POWER window's page size, size and levels …); absent: `undefined`. */
  readonly config?: fc.Arbitrary<C>;
  create(config: C): AgreementRig;
  /** Property runs (default 25). */
  readonly numRuns?: number;
}

/** Every case a vendor harness offers: raw tables of its format test configurations first, then cases built through its driver. */
export interface AgreementHarness {
  readonly vendor: string;
  /** Each case has its own configuration type. */
  readonly cases: readonly AgreementCase<any>[];
}
