import {
  fail,
  PAGE_SHIFT,
  ptDumpBounded,
  ptHarvestDirty,
  ptLookupView,
  RadixPageTable,
  tableFrames,
  type DirtyLog,
  type DomainDump,
  type InvalidateRequest,
  type IovaRange,
  type LookupView,
  type PhysRuns,
} from '@ioasid/core';
import { devTlbFlush, iotlbFlush } from './cache-tags.js';
import { checkProt, VtdDomain } from './domain.js';
import { SecondLevelFormat, slAwField } from './formats/second-level.js';
import { PGTT_SL_ONLY, type PasidEntry } from './tables/pasid-entry.js';
import type { InvDesc } from './tables/inv-desc.js';
import type { RouteOwner, VtdDomainHost } from './domain-host.js';
import { describeRoutes, DUMP_LIMITS } from './views.js';
import { checkHostPointer } from './host-address.js';

/**
 * A kernel-managed address space: a second-level table in host memory, programmed as PGTT = 010b
 * (second-level only) in the PASID entry of every route it is attached at (Linux
 * intel_pasid_setup_second_level), and the parent of nested children.
 */
export class VtdSecondLevelDomain extends VtdDomain {
  readonly protocol = 'map' as const;
  readonly format: SecondLevelFormat;
  readonly table: RadixPageTable;
  /** Nested children (VtdNestedDomain), by what the flush needs of them. */
  readonly children = new Set<RouteOwner>();
  /** SET_DIRTY_TRACKING: SSADE in the PASID entry of every route of this table (own and nested children's). */
  dirtyTracking = false;

  constructor(driver: VtdDomainHost, did: number) {
    super(driver, did);
    this.format = new SecondLevelFormat({ levels: driver.slLevels, sllps: driver.sllps, haw: driver.haw });
    const table = RadixPageTable.create(driver.host, this.format);
    try {
      checkHostPointer(table.root, tableFrames(this.format, this.format.levels - 1), driver.haw, 'second-level root (PASID entry SLPTPTR)');
    } catch (e) {
      table.destroy();
      throw e;
    }
    this.table = table;
  }

  get rootAddr(): bigint {
    return this.table.rootAddr;
  }

  pasidEntry(): PasidEntry {
    return {
      p: true,
      fpd: false,
      aw: slAwField(this.format.levels),
      pgtt: PGTT_SL_ONLY,
      slptptr: this.rootAddr,
      did: this.did,
      pwsnp: this.driver.pageWalkSnoop,
      pgsnp: false,
      sre: false,
      wpe: false,
      eafe: false,
      flpm: 0,
      flptptr: 0n,
      // Linux intel_pasid_setup_second_level: a route attached while tracking gets SSADE at once.
      slade: this.dirtyTracking,
    };
  }

  info(): { pageSizes: bigint[]; permittedRanges: IovaRange[] } {
    return { pageSizes: this.driver.slPageSizes, permittedRanges: this.permittedRanges(this.driver.addressWidth) };
  }

  override map(iova: bigint, size: bigint, phys: PhysRuns, prot: number): void {
    const p = checkProt(prot);
    this.table.map(Number(iova >> BigInt(PAGE_SHIFT)), Number(size >> BigInt(PAGE_SHIFT)), phys, p);
    // Caching mode is off: not-present entries are never cached, so a new mapping needs no flush.
  }

  override unmap(iova: bigint, size: bigint): void {
    this.table.unmap(Number(iova >> BigInt(PAGE_SHIFT)), Number(size >> BigInt(PAGE_SHIFT)));
    this.flush({ start: iova, size });
  }

  invalidate(req: InvalidateRequest): void {
    if (req.all) this.flush(null);
    else {
      if (req.size === 0n) fail('EINVAL', 'size must not be zero');
      this.flush({ start: req.iova, size: req.size });
    }
  }

  /**
   * After a second-level change (Linux cache_tag_flush_range): IOTLB for this DID, device-TLB
   * for each ATS route, and for every nested child its DID (nested IOTLB entries) and its routes'
   * whole device-TLB, as the GPA range says nothing about the GVAs cached there.
   */
  flush(range: { start: bigint; size: bigint } | null): void {
    const caps = this.driver.flushCaps;
    const descs: InvDesc[] = [iotlbFlush(this.did, range, caps)];
    for (const a of this.attachments) if (a.ats) descs.push(devTlbFlush(a, range));
    for (const c of this.children) {
      if (c.attachments.length === 0) continue;
      descs.push(iotlbFlush(c.did, range, caps));
      for (const a of c.attachments) if (a.ats) descs.push(devTlbFlush(a, null));
    }
    this.driver.qi.submit(descs);
  }

  /**
   * SET_DIRTY_TRACKING (Linux intel_iommu_set_dirty_tracking and parent_domain_set_dirty_tracking):
   * SSADE in the PASID entry of each route, own and nested children's.
   */
  setDirtyTracking(enable: boolean): void {
    this.dirtyTracking = enable;
    for (const a of this.attachments) this.driver.setSsade(a, enable);
    for (const c of this.children) for (const a of c.attachments) this.driver.setSsade(a, enable);
  }

  /**
   * GET_DIRTY_BITMAP (Linux intel_iommu_read_and_clear_dirty through the page-table engine): the
   * second-stage leaves in the range whose D is set; with `clear`, D is cleared in memory and the
   * range cleared is flushed from the IOTLB and device-TLBs (iommufd's iotlb_sync after the read),
   * so that no cached D = 1 lets the next write go unlogged.
   */
  readDirty(log: DirtyLog, clear: boolean): void {
    ptHarvestDirty(this.table, log, { clear });
    if (clear && log.high > log.low) this.flush({ start: BigInt(log.low) << BigInt(PAGE_SHIFT), size: BigInt(log.high - log.low) << BigInt(PAGE_SHIFT) });
  }

  /** The table as memory holds it, within the dump limits of views.ts: a large range mapped in 4 KiB pages has millions of entries. */
  dump(): DomainDump {
    const d = ptDumpBounded(this.table, DUMP_LIMITS);
    return {
      title: 'second-level',
      inputBase: 0n,
      format: this.format.name,
      root: d.root,
      context: { DID: this.did, SLPTPTR: this.rootAddr, levels: this.format.levels, truncated: d.truncated, routes: describeRoutes(this.driver, this.attachments) },
    };
  }

  /**
   * LOOKUP decoded from memory, faults named as the unit names them. An IOVA at or beyond the
   * table's input width is not walked (the unit faults SM_ADDR_BEYOND_MGAW there; the table's
   * index would wrap).
   */
  lookup(iova: bigint): LookupView {
    const stage = 'second-level';
    return ptLookupView(this.table, iova, {
      stage,
      beyond: (bits) => `SM_ADDR_BEYOND_MGAW: beyond the ${bits}-bit input of the ${stage} table`,
      unmapped: (last) =>
        last ? `${last.decoded.kind === 'invalid' ? 'SS_PAGING_ENTRY_RSVD' : 'SS_PAGING_ENTRY_P'}: ${last.decoded.kind} entry at level ${last.level}` : 'no table',
    });
  }

  protected freeTables(): void {
    if (this.children.size) fail('EBUSY', 'nested children still exist');
    this.table.destroy();
  }
}
