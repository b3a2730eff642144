import {
  fail,
  ptDumpBounded,
  RadixPageTable,
  Stage2Memory,
  type DomainDump,
  type InvalidateRequest,
  type IovaRange,
  type LookupView,
  type PgtableFormat,
} from '@ioasid/core';
import { devTlbFlush, piotlbFlush } from './cache-tags.js';
import { VtdDomain } from './domain.js';
import type { VtdSecondLevelDomain } from './domain-second-level.js';
import { FirstLevelFormat, flpmForLevels, type FirstLevelLevels } from './formats/first-level.js';
import { slAwField } from './formats/second-level.js';
import { PGTT_NESTED, type PasidEntry } from './tables/pasid-entry.js';
import type { InvDesc } from './tables/inv-desc.js';
import { hex } from './tables/qwords.js';
import type { VtdDomainHost } from './domain-host.js';
import { describeRoutes, DUMP_LIMITS, guestLookup } from './views.js';

/**
 * A user-managed address space nested on a kernel-managed parent: once the guest's first-level
 * table is bound, every route is programmed PGTT = 011b with FLPTPTR = its GPA and SLPTPTR = the
 * parent's second-level root (Linux intel_pasid_setup_nested); before that the routes are blocked.
 */
export class VtdNestedDomain extends VtdDomain {
  readonly protocol = 'user-pgtable' as const;
  bound: { gpa: bigint; format: FirstLevelFormat } | null = null;

  constructor(
    driver: VtdDomainHost,
    did: number,
    readonly parent: VtdSecondLevelDomain,
    private readonly requested?: FirstLevelLevels,
  ) {
    super(driver, did);
    parent.children.add(this);
  }

  pasidEntry(): PasidEntry | null {
    if (!this.bound) return null;
    return {
      p: true,
      fpd: false,
      aw: slAwField(this.parent.format.levels),
      pgtt: PGTT_NESTED,
      slptptr: this.parent.rootAddr,
      did: this.did,
      pwsnp: this.driver.pageWalkSnoop,
      pgsnp: false,
      sre: false,
      wpe: false,
      eafe: false,
      flpm: flpmForLevels(this.bound.format.levels as FirstLevelLevels),
      flptptr: this.bound.gpa,
      // The parent's second stage logs A/D for nested walks too (Linux intel_pasid_setup_nested).
      slade: this.parent.dirtyTracking,
    };
  }

  info(): { pageSizes: bigint[]; permittedRanges: IovaRange[] } {
    return { pageSizes: this.driver.flPageSizes, permittedRanges: this.permittedRanges(this.driver.addressWidth) };
  }

  bindPgtable(addr: bigint, format: PgtableFormat): void {
    const levels = this.driver.checkFirstLevelFormat(format, 'format');
    if (this.requested !== undefined && levels !== this.requested) {
      fail('EINVAL', `format.levels ${levels} differs from the ${this.requested}-level format this address space was created with`);
    }
    if (typeof addr !== 'bigint' || addr < 0n || addr % 4096n !== 0n) fail('EINVAL', `addr ${String(addr)} must be a 4 KiB-aligned guest physical address`);
    if (addr >> BigInt(this.driver.addressWidth) !== 0n) fail('EINVAL', `addr ${hex(addr)} is beyond the ${this.driver.addressWidth}-bit guest physical space`);
    this.bound = { gpa: addr, format: this.driver.firstLevelFormat(levels) };
    for (const a of this.attachments) this.driver.reprogram(a);
  }

  /** INVALIDATE_CACHE: PASID-based IOTLB (+ device-TLB) for every route (Linux intel_nested_cache_invalidate_user). */
  invalidate(req: InvalidateRequest): void {
    let range: { start: bigint; size: bigint } | null = null;
    if (!req.all) {
      if (req.size === 0n) fail('EINVAL', 'size must not be zero');
      range = { start: req.iova, size: req.size };
    }
    const descs: InvDesc[] = [];
    for (const a of this.attachments) {
      if (req.pasid !== undefined && !a.ridLevel && a.pasid !== req.pasid) continue;
      descs.push(piotlbFlush(this.did, a.pasid, range, this.driver.flushCaps));
      if (a.ats) descs.push(devTlbFlush(a, range));
    }
    this.driver.qi.submit(descs);
  }

  /** Guest-physical memory as the unit fetches the guest's tables: through the parent's second level. */
  private guestMemory(): Stage2Memory {
    return new Stage2Memory(this.driver.host, this.parent.table);
  }

  /** The guest's table as the unit sees it, in guest-physical terms (bounded by the dump limits of views.ts: the guest is untrusted). */
  dump(): DomainDump {
    const d = this.bound ? ptDumpBounded(RadixPageTable.view(this.guestMemory(), this.bound.format, Number(this.bound.gpa >> 12n)), DUMP_LIMITS) : null;
    return {
      title: 'first-level (guest, nested over second-level; addresses are guest-physical)',
      inputBase: 0n,
      format: this.bound?.format.name ?? 'unbound',
      root: d ? d.root : null,
      context: { DID: this.did, FLPTPTR: this.bound?.gpa, parentDID: this.parent.did, truncated: d?.truncated ?? false, routes: describeRoutes(this.driver, this.attachments) },
    };
  }

  lookup(iova: bigint): LookupView {
    if (!this.bound) return { iova, steps: [], output: null, fault: 'no first-level table is bound' };
    const first = guestLookup(this.guestMemory(), this.bound.format, this.bound.gpa, iova, 'first-level (guest-physical addresses)', (gpa, top) => this.tableFetchFault(gpa, top));
    if (first.output === null) return first;
    const second = this.parent.lookup(first.output);
    return {
      iova,
      steps: [...first.steps, ...second.steps.map((s) => ({ ...s, stage: 'second-level (output GPA)' }))],
      output: second.output,
      perms: second.perms && first.perms ? { read: first.perms.read && second.perms.read, write: first.perms.write && second.perms.write } : undefined,
      pageSize: first.pageSize !== undefined && second.pageSize !== undefined ? (first.pageSize < second.pageSize ? first.pageSize : second.pageSize) : undefined,
      fault: second.fault?.startsWith('SM_ADDR_BEYOND_MGAW') ? `NESTED_FS_ADDR_BEYOND_MGAW: the output GPA ${second.fault.slice('SM_ADDR_BEYOND_MGAW: '.length)}` : second.fault,
    };
  }

  /**
   * The fault the unit reports for a first-level table at `gpa` the parent does not map readable
   * (walker.ts tableFetchFault): beyond its width, a second-level entry not present, or no read access.
   */
  private tableFetchFault(gpa: bigint, top: boolean): string {
    const v = this.parent.lookup(gpa);
    if (v.output === null) return v.fault?.startsWith('SM_ADDR_BEYOND_MGAW') ? 'NESTED_FS_ADDR_BEYOND_MGAW' : (v.fault ?? 'SS_PAGING_ENTRY_P').split(':')[0];
    return top ? 'NESTED_FS_PML4E_READ' : 'NESTED_FS_PAGING_ENTRY_READ';
  }

  protected freeTables(): void {
    this.parent.children.delete(this);
  }
}
