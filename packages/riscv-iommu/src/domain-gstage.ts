import { RadixPageTable, ptLookupView, type DirtyLog, type DomainDump, type InvalidateRequest, type IovaRange, type LookupView, type PhysRuns } from '@ioasid/core';
import { SvFormat, svFormat } from './formats/sv.js';
import { harvest, markLeaves } from './dirty-tracking.js';
import type { SvMode } from './tables/atp.js';
import { iotinvalGvma, type Command } from './tables/commands.js';
import { PAGE_SIZES, RvDomain, pagesOf } from './domain-base.js';
import type { DomainHost } from './domain-host.js';

/**
 * A kernel-managed ('map') IOASID: an Sv39x4/Sv48x4/Sv57x4 G-stage table in host memory, tagged
 * by its own GSCID. Nested children walk their first stage (or the guest's PDT) through it.
 */
export class GStageDomain extends RvDomain {
  readonly protocol = 'map' as const;
  readonly pt: RadixPageTable;
  readonly gscid: number;
  /** user-pgtable and user-pasid-table children built over this G-stage. */
  readonly nested = new Set<RvDomain & { flush(): void; gscidOwn?: number }>();

  constructor(drv: DomainHost) {
    super(drv);
    // A format instance of its own: its leaves are written with D clear while this IOASID logs writes.
    const pt = RadixPageTable.create(drv.ctx.hostMemory, drv.dirtyLogging ? new SvFormat(drv.gstageMode, true, false) : svFormat(drv.gstageMode, true));
    try {
      this.gscid = drv.gscids.alloc();
    } catch (e) {
      pt.destroy();
      throw e;
    }
    this.pt = pt;
  }

  get inputBits(): number {
    return this.drv.gstageMode + 2;
  }

  info(): { pageSizes: bigint[]; permittedRanges: IovaRange[] } {
    return { pageSizes: [...PAGE_SIZES], permittedRanges: permittedGpa(this.drv.gstageMode) };
  }

  override map(iova: bigint, size: bigint, phys: PhysRuns, prot: number): void {
    this.pt.map(Number(iova >> 12n), Number(size >> 12n), phys, prot);
  }

  override unmap(iova: bigint, size: bigint): void {
    this.pt.unmap(Number(iova >> 12n), Number(size >> 12n));
    this.invalidateGpa(iova, size);
  }

  /** IOTINVAL.GVMA of a GPA range for this GSCID and for each child with a GSCID of its own. */
  invalidateGpa(iova: bigint, size: bigint): void {
    const pages = pagesOf(iova, size);
    const gscids = [this.gscid, ...[...this.nested].map((c) => c.gscidOwn).filter((g): g is number => g !== undefined)];
    const cmds: Command[] = [];
    for (const gscid of gscids) {
      if (pages) for (const addr of pages) cmds.push(iotinvalGvma({ gscid, addr }));
      else cmds.push(iotinvalGvma({ gscid }));
    }
    this.drv.cmdq.submit(cmds);
  }

  flush(): void {
    this.drv.cmdq.submit([iotinvalGvma({ gscid: this.gscid })]);
  }

  /** SET_DIRTY_TRACKING on: DCs over this G-stage have GADE, writable leaves are kept with D clear. */
  tracking = false;

  /** Dirty logging hooks (only with capabilities.AMO_HWAD): core calls them for SET_DIRTY_TRACKING / GET_DIRTY_BITMAP. */
  get setDirtyTracking(): ((enable: boolean) => void) | undefined {
    return this.drv.dirtyLogging ? (enable) => this.track(enable) : undefined;
  }

  get readDirty(): ((log: DirtyLog, clear: boolean) => void) | undefined {
    return this.drv.dirtyLogging ? (log, clear) => harvest(this, log, clear) : undefined;
  }

  /**
   * On: GADE in the DCs first, then the leaves clean. Off: the leaves dirty first (so that no write
   * faults once GADE is gone), then the DCs. Either way the IOTLB forgets what it knew of D.
   */
  private track(enable: boolean): void {
    const fmt = this.pt.fmt as SvFormat;
    if (enable) {
      this.tracking = true;
      this.drv.rewriteGStage(this);
    }
    fmt.logDirty = enable;
    markLeaves(this.pt, enable);
    if (!enable) {
      this.tracking = false;
      this.drv.rewriteGStage(this);
    }
    this.invalidateGpa(0n, 1n << BigInt(this.inputBits));
  }

  invalidate(req: InvalidateRequest): void {
    if (req.all) this.flush();
    else this.invalidateGpa(req.iova, req.size);
  }

  dump(): DomainDump {
    return {
      title: `G-stage ${this.pt.fmt.name}`,
      inputBase: 0n,
      format: this.pt.fmt.name,
      root: this.pt.dump(),
      context: { 'iohgatp.MODE': this.pt.fmt.name, 'iohgatp.GSCID': this.gscid, 'iohgatp.PPN': BigInt(this.pt.root) },
    };
  }

  lookup(iova: bigint): LookupView {
    return ptLookupView(this.pt, iova, {
      stage: 'G-stage',
      beyond: (bits) => `GPA beyond the ${bits}-bit G-stage (guest-page fault)`,
      unmapped: () => 'G-stage not mapped (guest-page fault)',
    });
  }

  destroy(): void {
    this.flush();
    this.pt.destroy();
    this.drv.gscids.free(this.gscid);
  }
}

/** The GPAs a 'map' IOASID may map: the whole G-stage input (spec §3.1.2: GPA bits [mode+1:0] of Svx4). */
export function permittedGpa(mode: SvMode): IovaRange[] {
  return [{ start: 0n, last: (1n << BigInt(mode + 2)) - 1n }];
}
