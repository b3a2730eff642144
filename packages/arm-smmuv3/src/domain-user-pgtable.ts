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
import { lpaeStage1Format, type LpaeFormat } from './formats/lpae.js';
import { stage1Geometry, type Granule } from './formats/lpae-geometry.js';
import { checkS1Format } from './bind-formats.js';
import { checkLookupPasid, guestDumpBudget, lookupNested } from './lookup.js';
import { decodeCd } from './tables/cd.js';
import { s1Cd } from './cd-builder.js';
import type { BoundS1, StreamState, SmmuS2Domain as S2Domain, SmmuUserPgtableDomain } from './domain-types.js';
import type { SmmuKernel } from './kernel-context.js';
import { checkChildAttach } from './attach-checks.js';
import { bindUserPgtable } from './nested-bind.js';
import { invalidateUserPgtable, retireUserPgtable } from './cache-maintenance.js';

export type { BoundS1 };

/** Checks a `{ kind: 'arm-lpae-s1', granule, ias }` format and a table address against the unit. */
export function checkBindS1(drv: SmmuKernel, addr: bigint, format: PgtableFormat): BoundS1 {
  const { granule, ias } = checkS1Format(format, drv.caps.granules, drv.ias);
  if (typeof addr !== 'bigint' || addr < 0n || addr >= 1n << BigInt(drv.ias)) fail('EINVAL', `addr must be a guest-physical address below 2^${drv.ias}`);
  const top = 8 * 2 ** stage1Geometry(granule, ias).topBits;
  if (Number(addr) % top !== 0) fail('EINVAL', `addr 0x${addr.toString(16)} must be aligned to the ${top}-byte top-level table`);
  return { gpa: Number(addr), granule, ias };
}

/**
 * A nesting child bound to one guest stage 1 table (BIND_PGTABLE). The kernel writes one CD per
 * attachment (StreamID, or StreamID + SubstreamID) into the stream's kernel CD table, with
 * TTB0 = the table's GPA and an ASID of its own; stage 2 is the parent's.
 */
export class UserPgtableDomain implements SmmuUserPgtableDomain {
  readonly protocol = 'user-pgtable' as const;
  readonly asid: number;
  bound: BoundS1 | null = null;
  /** Attachments: stream → SubstreamIDs (0 = the StreamID itself, via S1DSS = SSID0). */
  readonly attachments = new Map<StreamState, Set<number>>();

  constructor(
    private readonly drv: SmmuKernel,
    readonly parent: S2Domain,
  ) {
    this.asid = drv.asids.alloc();
  }

  get vmid(): number {
    return this.parent.vmid;
  }

  info(): { pageSizes: bigint[]; permittedRanges: IovaRange[] } {
    const ias = this.bound?.ias ?? this.drv.ias;
    return { pageSizes: this.drv.mapPageSizes(), permittedRanges: [{ start: 0n, last: (1n << BigInt(ias)) - 1n }] };
  }

  /** The CD the kernel writes for this table (Linux arm_smmu_make_s1_cd with the guest's TTB0). */
  cd(): Uint32Array {
    const b = this.bound!;
    return s1Cd({ ttb0: b.gpa, granule: b.granule, ias: b.ias, asid: this.asid, ipsBits: Math.min(this.drv.ias, this.drv.caps.oasBits) });
  }

  checkAttach(dev: DeviceDesc, pasid: number | undefined): string | null {
    return checkChildAttach(this.drv, this, dev, pasid);
  }

  attach(dev: DeviceDesc, pasid: number | undefined, _replacing?: IommuDomain): void {
    this.drv.streams.must(dev).attachUserPgtable(this, pasid);
  }

  detach(dev: DeviceDesc, pasid: number | undefined, restoring?: IommuDomain): void {
    this.drv.streams.must(dev).detachUserPgtable(this, pasid, restoring);
  }

  map(): void {
    fail('EOPNOTSUPP', 'a user-pgtable IOASID is not mapped with MAP_DMA');
  }

  unmap(): void {
    fail('EOPNOTSUPP', 'a user-pgtable IOASID is not unmapped with UNMAP_DMA');
  }

  bindPgtable(addr: bigint, format: PgtableFormat): void {
    const b = checkBindS1(this.drv, addr, format);
    bindUserPgtable(this.drv, this, b);
  }

  invalidate(req: InvalidateRequest): void {
    invalidateUserPgtable(this.drv, this, req);
  }

  private s1Table(view: Stage2Memory): { fmt: LpaeFormat; table: RadixPageTable } | null {
    const b = this.bound;
    if (!b || b.gpa % 4096 !== 0) return null;
    const fmt = lpaeStage1Format(b.granule, b.ias);
    return { fmt, table: RadixPageTable.view(view, fmt, b.gpa / 4096) };
  }

  dump(): DomainDump {
    const view = new Stage2Memory(this.drv.host, this.parent.table);
    const t = this.s1Table(view);
    // The guest wrote this table: the dump is bounded and says when it stopped.
    const budget = guestDumpBudget();
    const root = t ? t.table.dump(0n, budget) : null;
    const context: Record<string, unknown> = { ASID: this.asid, VMID: this.vmid, bound: this.bound !== null, truncated: budget.truncated };
    const first = [...this.attachments.entries()][0];
    if (first?.[0].kcd) {
      const ssid = [...first[1]][0];
      context.CD = decodeCd(first[0].kcd.read(ssid));
      context.CDSubstreamID = ssid;
    }
    return {
      title: `guest stage-1 (ASID ${this.asid}; table addresses are guest-physical)`,
      inputBase: 0n,
      format: t?.fmt.name ?? 'arm-lpae-s1',
      root,
      context,
    };
  }

  lookup(iova: bigint, pasid?: number): LookupView {
    checkLookupPasid(pasid);
    const view = new Stage2Memory(this.drv.host, this.parent.table);
    const t = this.s1Table(view);
    if (!t) return { iova, steps: [], output: null, fault: 'no guest table is bound' };
    return lookupNested(t.table, this.parent.table, iova);
  }

  destroy(): void {
    retireUserPgtable(this.drv, this);
  }
}
