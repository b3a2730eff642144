import {
  fail,
  PROT_READ,
  PROT_WRITE,
  ptDumpBounded,
  ptLookupView,
  RadixPageTable,
  type DeviceDesc,
  type DomainDump,
  type HostMemory,
  type InvalidateRequest,
  type IommuDomain,
  type IovaRange,
  type LookupView,
  type PhysRuns,
} from '@ioasid/core';
import { TceFormat } from './formats/tce.js';
import { decodeTve, tveIndex } from './tables/tve.js';
import type { WindowGeometry } from './window.js';
import { checkTveTable, type Phb4Firmware } from './opal.js';

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

/**
 * The most a DUMP examines: 2^22 TCE slots (eight times the default window's one level of 2^19)
 * and 65,536 valid TCEs (256 MiB of 4 KiB IO pages). A DDW of 2^40 bytes fully mapped in 4 KiB
 * pages holds 2^28 TCEs, which would take minutes to decode and no one reads in a dump.
 */
export const DUMP_READS = 1 << 22;
export const DUMP_ENTRIES = 1 << 16;

/**
 * What a window domain needs of the driver that made it (PowerNvIommu implements it): host memory,
 * the firmware calls it makes (TCE kills, reading a TVE back), the PE of a device and the TVE
 * ownership of a PE's windows. The domain knows no more of the driver than this.
 */
export interface TceWindowHost {
  readonly host: HostMemory;
  readonly firmware: Pick<Phb4Firmware, 'tceKill' | 'readTve'>;
  peOf(dev: DeviceDesc): number | undefined;
  windowOwner(pe: number, select: 0 | 1): TceWindowDomain | null;
  setWindow(pe: number, domain: TceWindowDomain): void;
  unsetWindow(pe: number, domain: TceWindowDomain): void;
}

/**
 * A kernel-managed IOASID on POWER: one DMA window (the PE's default 32-bit window or a dynamic DMA
 * window) and its TCE table. Attaching a device points its PE's TVE at this table.
 */
export class TceWindowDomain implements IommuDomain {
  readonly protocol = 'map' as const;
  readonly format: TceFormat;
  readonly table: RadixPageTable;
  /** PE# → names of the devices attached through it. */
  private readonly pes = new Map<number, Set<string>>();
  private readonly pageFrames: number;
  private readonly firstFrame: number;
  /** IO page size, window end and page mask as bigints, computed once (map/unmap check them per call). */
  readonly pageSize: bigint;
  private readonly windowEnd: bigint;
  private readonly pageMask: bigint;
  private readonly pageShiftBig: bigint;

  constructor(
    private readonly iommu: TceWindowHost,
    readonly window: WindowGeometry,
  ) {
    this.format = new TceFormat({ pageShift: window.pageShift, levels: window.levels, levelBits: window.levelBits });
    const table = RadixPageTable.create(iommu.host, this.format);
    try {
      checkTveTable(table.rootAddr);
    } catch (e) {
      table.destroy();
      throw e;
    }
    this.table = table;
    this.pageFrames = 2 ** (window.pageShift - 12);
    this.firstFrame = Number(window.busStart >> 12n);
    this.pageShiftBig = BigInt(window.pageShift);
    this.pageSize = 1n << this.pageShiftBig;
    this.pageMask = this.pageSize - 1n;
    this.windowEnd = window.busStart + window.size;
  }

  get tableAddr(): bigint {
    return this.table.rootAddr;
  }

  get attachedPes(): number[] {
    return [...this.pes.keys()].sort((a, b) => a - b);
  }

  get label(): string {
    const w = this.window;
    return `${w.kind === 'default' ? 'default 32-bit window' : 'dynamic DMA window'} ${hex(w.busStart)}..${hex(w.busStart + w.size - 1n)}`;
  }

  info(): { pageSizes: bigint[]; permittedRanges: IovaRange[] } {
    return { pageSizes: [this.pageSize], permittedRanges: [{ start: this.window.busStart, last: this.window.busStart + this.window.size - 1n }] };
  }

  /** Attaching makes this window valid in the PE's TVT, so maps made before the attach stay reachable. */
  permittedAfterAttach(): IovaRange[] {
    return this.info().permittedRanges;
  }

  checkAttach(dev: DeviceDesc, pasid: number | undefined): string | null {
    if (pasid !== undefined) return `PHB4 has no PASID support: attach ${dev.name} without a PASID`;
    const pe = this.iommu.peOf(dev);
    if (pe === undefined) return `${dev.name} has no PE (not bound to an IOASID fd)`;
    return null;
  }

  attach(dev: DeviceDesc, pasid: number | undefined): void {
    const reason = this.checkAttach(dev, pasid);
    if (reason) fail('EINVAL', reason);
    const pe = this.iommu.peOf(dev)!;
    let devs = this.pes.get(pe);
    if (!devs) {
      devs = new Set();
      this.pes.set(pe, devs);
    }
    // The PE is the IOMMU group: its TVE follows the latest attach, as a group attach does.
    if (this.iommu.windowOwner(pe, this.window.select) !== this) this.iommu.setWindow(pe, this);
    devs.add(dev.name);
  }

  detach(dev: DeviceDesc): void {
    const pe = this.iommu.peOf(dev);
    if (pe === undefined) return;
    const devs = this.pes.get(pe);
    if (!devs || !devs.delete(dev.name) || devs.size > 0) return;
    this.pes.delete(pe);
    this.iommu.unsetWindow(pe, this);
  }

  /** The driver dropped the PE (its last device was released while still attached). */
  forgetPe(pe: number): void {
    this.pes.delete(pe);
  }

  /** Window-relative first frame and frame count of [iova, iova+size), or EINVAL naming the window. */
  private frames(iova: bigint, size: bigint, what: string): [number, number] {
    if (size <= 0n) fail('EINVAL', `${what}: size must be positive`);
    if (iova < this.window.busStart || iova + size > this.windowEnd) {
      fail('EINVAL', `${what} ${hex(iova)}+${hex(size)} is outside the ${this.label}`);
    }
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
    this.kill(iova, size);
  }

  unmap(iova: bigint, size: bigint): void {
    const [first, frames] = this.frames(iova, size, 'unmap');
    this.table.unmap(first, frames);
    this.kill(iova, size);
  }

  /** pnv_pci_ioda2_tce_invalidate: a page kill for every PE using the table. */
  private kill(iova: bigint, size: bigint): void {
    if (this.pes.size === 0) return;
    const npages = Number(size >> this.pageShiftBig);
    for (const pe of this.pes.keys()) this.iommu.firmware.tceKill('pages', pe, this.pageSize, iova, npages);
  }

  invalidate(req: InvalidateRequest): void {
    if (req.all) {
      for (const pe of this.pes.keys()) this.iommu.firmware.tceKill('pe', pe, 0n, 0n, 0);
      return;
    }
    const w = this.window;
    const lo = req.iova > w.busStart ? req.iova : w.busStart;
    const end = req.iova + req.size < w.busStart + w.size ? req.iova + req.size : w.busStart + w.size;
    if (end <= lo) return;
    const mask = this.pageSize - 1n;
    const start = lo & ~mask;
    this.kill(start, ((end + mask) & ~mask) - start);
  }

  /** The TCE table as memory holds it, within DUMP_READS / DUMP_ENTRIES; `context.truncated` says whether it stopped early. */
  dump(): DomainDump {
    const w = this.window;
    const context: Record<string, unknown> = {
      window: { start: w.busStart, last: w.busStart + w.size - 1n, pageSize: this.pageSize, levels: w.levels, levelSize: w.tableSize },
      attachedPes: this.attachedPes,
    };
    const pe = this.attachedPes[0];
    if (pe !== undefined) {
      const n = tveIndex(pe, w.select);
      const tve = decodeTve(this.iommu.firmware.readTve(n));
      context[`TVT[${n}]`] = tve;
    }
    const { root, truncated } = ptDumpBounded(this.table, { reads: DUMP_READS, entries: DUMP_ENTRIES }, w.busStart);
    context.truncated = truncated;
    return {
      title: `tce window ${w.select} (${this.label})`,
      inputBase: w.busStart,
      format: this.format.name,
      root,
      context,
    };
  }

  lookup(iova: bigint): LookupView {
    const w = this.window;
    if (iova < w.busStart || iova >= w.busStart + w.size) return { iova, steps: [], output: null, fault: 'OUT_OF_WINDOW' };
    return ptLookupView(this.table, iova, { inputBase: w.busStart, unmapped: () => 'TCE_INVALID' });
  }

  destroy(): void {
    if (this.pes.size > 0) fail('EBUSY', `the ${this.label} is still attached to PE#${this.attachedPes.join(', PE#')}`);
    this.table.destroy();
  }

}
