import {
  RadixPageTable,
  Stage2Memory,
  fail,
  type DeviceDesc,
  type DomainDump,
  type IommuDomain,
  type InvalidateRequest,
  type IovaRange,
  type LookupView,
  type PgtableFormat,
} from '@ioasid/core';
import { lpaeStage1Format } from './formats/lpae.js';
import { stage1FromTcr, tgDecode } from './formats/lpae-geometry.js';
import { S1FMT_64K_L2, S1FMT_LINEAR } from './tables/ste.js';
import type { CdLayout } from './tables/cd-table.js';
import type { CdFields } from './tables/cd.js';
import type { BoundCdTable, StreamState, SmmuPasidTableDomain, SmmuS2Domain as S2Domain } from './domain-types.js';
import type { SmmuKernel } from './kernel-context.js';
import { checkChildAttach } from './attach-checks.js';
import { bindPasidTable } from './nested-bind.js';
import { invalidatePasidTable, retirePasidTable } from './cache-maintenance.js';
import { checkCdFormat } from './bind-formats.js';
import { LINEAR_CDMAX } from './capabilities.js';
import { readGuestCd, validGuestCds, type CdTablePointer } from './guest-cd.js';
import { checkLookupPasid, guestDumpBudget, lookupNested } from './lookup.js';

export type { BoundCdTable };

/**
 * A nesting child that is a guest's whole CD table (BIND_PASID_TABLE): the STE points at it by
 * GPA and the guest owns every CD and every ASID in it. It has a VMID of its own, so the
 * guest's ASIDs cannot meet the kernel's in the TLB.
 */
export class PasidTableDomain implements SmmuPasidTableDomain {
  readonly protocol = 'user-pasid-table' as const;
  readonly vmid: number;
  bound: BoundCdTable | null = null;
  readonly streams = new Set<StreamState>();

  constructor(
    private readonly drv: SmmuKernel,
    readonly parent: S2Domain,
  ) {
    this.vmid = drv.vmids.alloc();
  }

  info(): { pageSizes: bigint[]; permittedRanges: IovaRange[] } {
    return { pageSizes: this.drv.mapPageSizes(), permittedRanges: [{ start: 0n, last: (1n << BigInt(this.drv.ias)) - 1n }] };
  }

  checkAttach(dev: DeviceDesc, pasid: number | undefined): string | null {
    return checkChildAttach(this.drv, this, dev, pasid);
  }

  attach(dev: DeviceDesc, _pasid: number | undefined, _replacing?: IommuDomain): void {
    this.drv.streams.must(dev).attachPasidTable(this);
  }

  detach(dev: DeviceDesc, _pasid: number | undefined, restoring?: IommuDomain): void {
    this.drv.streams.must(dev).detachPasidTable(this, restoring);
  }

  map(): void {
    fail('EOPNOTSUPP', 'a user-pasid-table IOASID is not mapped with MAP_DMA');
  }

  unmap(): void {
    fail('EOPNOTSUPP', 'a user-pasid-table IOASID is not unmapped with UNMAP_DMA');
  }

  bindPasidTable(addr: bigint, format: PgtableFormat): void {
    const c = this.drv.caps;
    // GET_INFO lists the largest S1CDMax: SSIDSIZE with two-level tables, else Linux's
    // CTXDESC_LINEAR_CDMAX. A guest's linear table may be as large as the STE field allows.
    const largest = c.cd2l ? c.ssidBits : Math.min(c.ssidBits, LINEAR_CDMAX);
    const { layout, s1cdmax } = checkCdFormat(format, { cd2l: c.cd2l, linearMax: largest, twoLevelMax: largest });
    if (typeof addr !== 'bigint' || addr < 0n || addr >= 1n << BigInt(this.drv.ias)) fail('EINVAL', `addr must be a guest-physical address below 2^${this.drv.ias}`);
    if (addr % 64n !== 0n) fail('EINVAL', `addr 0x${addr.toString(16)} must be 64-byte aligned (STE.S1ContextPtr[51:6])`);
    bindPasidTable(this.drv, this, {
      ctxPtr: Number(addr),
      layout,
      s1fmt: layout === 'linear' ? S1FMT_LINEAR : S1FMT_64K_L2,
      s1cdmax,
    });
  }

  invalidate(req: InvalidateRequest): void {
    invalidatePasidTable(this.drv, this, req);
  }

  /** The guest CD behind a SubstreamID (the kernel reading guest memory), or null. */
  guestCd(ssid: number): { gpa: number; fields: CdFields } | null {
    if (!this.bound) return null;
    return readGuestCd(new Stage2Memory(this.drv.host, this.parent.table), this.bound, ssid);
  }

  private s1TableOf(view: Stage2Memory, f: CdFields): RadixPageTable | null {
    const granule = tgDecode(f.TG0);
    const geo = granule === null ? null : stage1FromTcr(granule, f.T0SZ);
    if (!geo || f.TTB0 % 4096 !== 0 || !f.V || f.EPD0) return null;
    return RadixPageTable.view(view, lpaeStage1Format(geo.granule, geo.ias), f.TTB0 / 4096);
  }

  dump(): DomainDump {
    const b = this.bound;
    const context: Record<string, unknown> = { VMID: this.vmid, bound: b !== null, truncated: false };
    if (!b) return { title: 'guest CD table (not bound)', inputBase: 0n, format: 'arm-smmuv3-cd', root: null, context };
    Object.assign(context, { S1ContextPtr: BigInt(b.ctxPtr), layout: b.layout, S1CDMax: b.s1cdmax });
    const view = new Stage2Memory(this.drv.host, this.parent.table);
    // The guest wrote the CD table and every table it points at: one budget bounds the whole DUMP
    //, and `truncated` says where it stopped.
    const budget = guestDumpBudget();
    const children: DomainDump[] = [];
    for (const ssid of validGuestCds(view, b, budget)) {
      const cd = readGuestCd(view, b, ssid)!;
      const t = this.s1TableOf(view, cd.fields);
      const before = budget.truncated;
      const root = t ? t.dump(0n, budget) : null;
      children.push({
        title: `guest stage-1 via CD ${ssid} (CD at GPA 0x${cd.gpa.toString(16)}; table addresses are guest-physical)`,
        inputBase: 0n,
        format: t?.fmt.name ?? 'arm-lpae-s1',
        root,
        context: { SubstreamID: ssid, CD: cd.fields, truncated: budget.truncated && !before },
      });
    }
    context.truncated = budget.truncated;
    return { title: 'guest CD table', inputBase: 0n, format: `arm-smmuv3-cd-${b.layout}`, root: null, context, children };
  }

  lookup(iova: bigint, pasid?: number): LookupView {
    checkLookupPasid(pasid);
    const view = new Stage2Memory(this.drv.host, this.parent.table);
    const ssid = pasid ?? 0;
    const cd = this.bound ? readGuestCd(view, this.bound, ssid) : null;
    if (!cd) return { iova, steps: [], output: null, fault: `no guest CD for SubstreamID ${ssid}` };
    const t = this.s1TableOf(view, cd.fields);
    if (!t) return { iova, steps: [], output: null, fault: `guest CD ${ssid} does not describe a walkable stage 1 table` };
    return lookupNested(t, this.parent.table, iova);
  }

  destroy(): void {
    retirePasidTable(this.drv, this);
  }
}
