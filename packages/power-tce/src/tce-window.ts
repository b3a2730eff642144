import {
  fail,
  PROT_READ,
  PROT_WRITE,
  ptDumpBounded,
  ptLookupView,
  RadixPageTable,
  type DumpTable,
  type HostMemory,
  type IovaRange,
  type LookupView,
  type PhysRuns,
} from '@ioasid/core';
import { TceFormat } from './formats/tce.js';
import { checkTveTable } from './opal.js';
import type { WindowGeometry } from './window.js';

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

/**
 * The most a DUMP examines: 2^22 TCE slots (eight times the default window's one level of 2^19)
 * and 65,536 valid TCEs (256 MiB of 4 KiB IO pages). A DDW of 2^40 bytes fully mapped in 4 KiB
 * pages holds 2^28 TCEs, which would take minutes to decode and no one reads in a dump.
 */
export const DUMP_READS = 1 << 22;
export const DUMP_ENTRIES = 1 << 16;

/**
 * One DMA window of an IOASID (Linux: one iommu_table of the container): its geometry and its TCE
 * table. The TVE pointing at it is the driver's business (TceWindowDomain and PowerNvIommu).
 */
export class TceWindow {
  readonly format: TceFormat;
  readonly table: RadixPageTable;
  /** IO page size, window end and page mask as bigints, computed once (map/unmap check them per call). */
  readonly pageSize: bigint;
  readonly pageShiftBig: bigint;
  private readonly pageMask: bigint;
  private readonly end: bigint;
  private readonly pageFrames: number;
  private readonly firstFrame: number;

  /** Allocates the table (ENOMEM, or ERANGE when a TVE could not point at it, leaves nothing behind). */
  constructor(
    host: HostMemory,
    readonly geometry: WindowGeometry,
  ) {
    this.format = new TceFormat({ pageShift: geometry.pageShift, levels: geometry.levels, levelBits: geometry.levelBits });
    const table = RadixPageTable.create(host, this.format);
    try {
      checkTveTable(table.rootAddr);
    } catch (e) {
      table.destroy();
      throw e;
    }
    this.table = table;
    this.pageFrames = 2 ** (geometry.pageShift - 12);
    this.firstFrame = Number(geometry.busStart >> 12n);
    this.pageShiftBig = BigInt(geometry.pageShift);
    this.pageSize = 1n << this.pageShiftBig;
    this.pageMask = this.pageSize - 1n;
    this.end = geometry.busStart + geometry.size;
  }

  get select(): 0 | 1 {
    return this.geometry.select;
  }

  get tableAddr(): bigint {
    return this.table.rootAddr;
  }

  get label(): string {
    const w = this.geometry;
    return `${w.kind === 'default' ? 'default 32-bit window' : 'dynamic DMA window'} ${hex(w.busStart)}..${hex(this.end - 1n)}`;
  }

  get range(): IovaRange {
    return { start: this.geometry.busStart, last: this.end - 1n };
  }

  /** Whether [iova, iova+size) lies inside the window. */
  holds(iova: bigint, size: bigint): boolean {
    return iova >= this.geometry.busStart && iova + size <= this.end;
  }

  /** Whether the window overlaps [iova, iova+size). */
  overlaps(iova: bigint, size: bigint): boolean {
    return iova < this.end && iova + size > this.geometry.busStart;
  }

  /** Window-relative first frame and frame count of [iova, iova+size), or EINVAL naming the window. */
  private frames(iova: bigint, size: bigint, what: string): [number, number] {
    if (size <= 0n) fail('EINVAL', `${what}: size must be positive`);
    if (!this.holds(iova, size)) fail('EINVAL', `${what} ${hex(iova)}+${hex(size)} is outside the ${this.label}`);
    const mask = this.pageMask;
    if ((iova & mask) !== 0n || (size & mask) !== 0n) {
      fail('EINVAL', `${what} ${hex(iova)}+${hex(size)} is not aligned to the ${hex(this.pageSize)} IO page size of the ${this.label}`);
    }
    return [Number(iova >> 12n) - this.firstFrame, Number(size >> 12n)];
  }

  map(iova: bigint, size: bigint, phys: PhysRuns, prot: number): void {
    const [first, frames] = this.frames(iova, size, 'map');
    if ((prot & (PROT_READ | PROT_WRITE)) === 0) fail('EINVAL', 'map: a TCE needs read or write permission');
    const pf = this.pageFrames;
    if (pf > 1) {
      // Each IO page must be one naturally aligned, physically contiguous host range
      // (Linux tce_iommu_build refuses with EPERM when the host page is smaller: tce_page_is_contained).
      for (let i = 0; i < frames; i += pf) {
        const f = phys.frame(i);
        if (f % pf !== 0 || phys.run(i) < pf) {
          fail('EPERM', `map ${hex(iova + BigInt(i) * 4096n)}: host memory at ${hex(BigInt(f) * 4096n)} is not a contiguous, aligned ${hex(this.pageSize)} page; back it with huge pages`);
        }
      }
    }
    this.table.map(first, frames, phys, prot);
  }

  unmap(iova: bigint, size: bigint): void {
    const [first, frames] = this.frames(iova, size, 'unmap');
    this.table.unmap(first, frames);
  }

  /** The IO-page-aligned part of [iova, iova+size) inside the window, or null (for cache kills). */
  clip(iova: bigint, size: bigint): { start: bigint; size: bigint } | null {
    const w = this.geometry;
    const lo = iova > w.busStart ? iova : w.busStart;
    const end = iova + size < this.end ? iova + size : this.end;
    if (end <= lo) return null;
    const start = lo & ~this.pageMask;
    return { start, size: ((end + this.pageMask) & ~this.pageMask) - start };
  }

  lookup(iova: bigint): LookupView {
    if (iova < this.geometry.busStart || iova >= this.end) return { iova, steps: [], output: null, fault: 'OUT_OF_WINDOW' };
    return ptLookupView(this.table, iova, { inputBase: this.geometry.busStart, unmapped: () => 'TCE_INVALID' });
  }

  /** The TCE table as memory holds it, within DUMP_READS / DUMP_ENTRIES. */
  dumpTable(): { root: DumpTable; truncated: boolean } {
    return ptDumpBounded(this.table, { reads: DUMP_READS, entries: DUMP_ENTRIES }, this.geometry.busStart);
  }

  /** What the dump's context says of the window. */
  describe(): Record<string, unknown> {
    const w = this.geometry;
    return { start: w.busStart, last: this.end - 1n, pageSize: this.pageSize, levels: w.levels, levelSize: w.tableSize };
  }

  destroy(): void {
    this.table.destroy();
  }
}
