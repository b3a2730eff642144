import {
  fail,
  type DeviceDesc,
  type DomainDump,
  type HostMemory,
  type InvalidateRequest,
  type IommuDomain,
  type IovaRange,
  type LookupView,
  type PhysRuns,
  type RadixPageTable,
} from '@ioasid/core';
import type { TceFormat } from './formats/tce.js';
import { decodeTve, TVE_SELECT_SHIFT, tveIndex } from './tables/tve.js';
import type { WindowGeometry } from './window.js';
import type { Phb4Firmware } from './opal.js';
import { TceWindow } from './tce-window.js';

/**
 * What a window domain needs of the driver that made it (PowerNvIommu implements it): host memory,
 * the firmware calls it makes (TCE kills, reading a TVE back), the PE of a device and which domain
 * a PE's TVEs belong to. The domain knows no more of the driver than this.
 */
export interface TceWindowHost {
  readonly host: HostMemory;
  readonly firmware: Pick<Phb4Firmware, 'tceKill' | 'readTve'>;
  peOf(dev: DeviceDesc): number | undefined;
  /** The domain whose windows the PE's TVEs hold, or null (the kernel's default window). */
  peOwner(pe: number): TceWindowDomain | null;
  /** `domain` now holds devices of the PE and takes its TVEs over. */
  claimPe(pe: number, domain: TceWindowDomain): void;
  /** The last device of the PE left `domain`. */
  releasePe(pe: number, domain: TceWindowDomain): void;
}

/**
 * A kernel-managed IOASID on POWER (Linux: a VFIO SPAPR TCE container): one or two DMA windows,
 * the PE's default 32-bit window and/or a dynamic DMA window, each with its own TCE table. While a
 * PE is attached, its two TVEs hold exactly these windows (a window the IOASID lacks is a zero TVE).
 */
export class TceWindowDomain implements IommuDomain {
  readonly protocol = 'map' as const;
  /** The windows in bus order (the default window first). */
  readonly windows: readonly TceWindow[];
  /** PE# → names of the devices attached through it. */
  private readonly pes = new Map<number, Set<string>>();

  constructor(
    private readonly iommu: TceWindowHost,
    geometries: readonly WindowGeometry[],
  ) {
    if (geometries.length === 0) fail('EINVAL', 'an IOASID on POWER needs at least one DMA window');
    const made: TceWindow[] = [];
    try {
      for (const g of geometries) made.push(new TceWindow(iommu.host, g));
    } catch (e) {
      for (const w of made) w.destroy();
      throw e;
    }
    this.windows = made.sort((a, b) => a.select - b.select);
  }

  /** The window behind TVE 2·PE + `select`, or null when the IOASID has none there. */
  windowAt(select: 0 | 1): TceWindow | null {
    return this.windows.find((w) => w.select === select) ?? null;
  }

  /** The first window's geometry, table and format (the only ones of a one-window IOASID). */
  get window(): WindowGeometry {
    return this.windows[0].geometry;
  }

  get table(): RadixPageTable {
    return this.windows[0].table;
  }

  get tableAddr(): bigint {
    return this.windows[0].tableAddr;
  }

  get format(): TceFormat {
    return this.windows[0].format;
  }

  get attachedPes(): number[] {
    return [...this.pes.keys()].sort((a, b) => a - b);
  }

  get label(): string {
    return this.windows.map((w) => w.label).join(' and ');
  }

  info(): { pageSizes: bigint[]; permittedRanges: IovaRange[] } {
    const sizes = [...new Set(this.windows.map((w) => w.pageSize))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return { pageSizes: sizes, permittedRanges: this.windows.map((w) => w.range) };
  }

  /** Attaching makes these windows valid in the PE's TVT, so maps made before the attach stay reachable. */
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
    // The PE is the IOMMU group: its TVEs follow the latest attach, as a group attach does.
    if (this.iommu.peOwner(pe) !== this) this.iommu.claimPe(pe, this);
    devs.add(dev.name);
  }

  detach(dev: DeviceDesc): void {
    const pe = this.iommu.peOf(dev);
    if (pe === undefined) return;
    const devs = this.pes.get(pe);
    if (!devs || !devs.delete(dev.name) || devs.size > 0) return;
    this.pes.delete(pe);
    this.iommu.releasePe(pe, this);
  }

  /** The driver dropped the PE (its last device was released while still attached). */
  forgetPe(pe: number): void {
    this.pes.delete(pe);
  }

  /** The window [iova, iova+size) belongs to; else the one its bus bit 59 selects, which refuses it naming itself. */
  private windowFor(iova: bigint, size: bigint): TceWindow {
    const sel = iova >= 0n && (iova >> BigInt(TVE_SELECT_SHIFT)) === 1n ? 1 : 0;
    return this.windows.find((w) => w.holds(iova, size)) ?? this.windowAt(sel) ?? this.windows[0];
  }

  map(iova: bigint, size: bigint, phys: PhysRuns, prot: number): void {
    const w = this.windowFor(iova, size);
    w.map(iova, size, phys, prot);
    this.kill(w, iova, size);
  }

  unmap(iova: bigint, size: bigint): void {
    const w = this.windowFor(iova, size);
    w.unmap(iova, size);
    this.kill(w, iova, size);
  }

  /** pnv_pci_ioda2_tce_invalidate: a page kill for every PE using the table. */
  private kill(w: TceWindow, iova: bigint, size: bigint): void {
    if (this.pes.size === 0) return;
    const npages = Number(size >> w.pageShiftBig);
    for (const pe of this.pes.keys()) this.iommu.firmware.tceKill('pages', pe, w.pageSize, iova, npages);
  }

  invalidate(req: InvalidateRequest): void {
    if (req.all) {
      for (const pe of this.pes.keys()) this.iommu.firmware.tceKill('pe', pe, 0n, 0n, 0);
      return;
    }
    for (const w of this.windows) {
      const part = w.clip(req.iova, req.size);
      if (part) this.kill(w, part.start, part.size);
    }
  }

  /** Each window's TCE table as memory holds it (a second window as a child); `context.truncated` says whether a dump stopped early. */
  dump(): DomainDump {
    const [first, ...rest] = this.windows.map((w) => this.dumpWindow(w));
    return rest.length ? { ...first, children: rest } : first;
  }

  private dumpWindow(w: TceWindow): DomainDump {
    const context: Record<string, unknown> = { window: w.describe(), attachedPes: this.attachedPes };
    const pe = this.attachedPes[0];
    if (pe !== undefined) {
      const n = tveIndex(pe, w.select);
      context[`TVT[${n}]`] = decodeTve(this.iommu.firmware.readTve(n));
    }
    const { root, truncated } = w.dumpTable();
    context.truncated = truncated;
    return { title: `tce window ${w.select} (${w.label})`, inputBase: w.geometry.busStart, format: w.format.name, root, context };
  }

  lookup(iova: bigint): LookupView {
    const w = this.windows.find((x) => x.holds(iova, 1n));
    return w ? w.lookup(iova) : { iova, steps: [], output: null, fault: 'OUT_OF_WINDOW' };
  }

  destroy(): void {
    if (this.pes.size > 0) fail('EBUSY', `the ${this.label} is still attached to PE#${this.attachedPes.join(', PE#')}`);
    for (const w of this.windows) w.destroy();
  }
}
