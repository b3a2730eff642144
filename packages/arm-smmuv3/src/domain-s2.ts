import {
  RadixPageTable,
  contiguousRuns,
  ptLeaves,
  type DeviceDesc,
  type DomainDump,
  type IommuDomain,
  type InvalidateRequest,
  type IovaRange,
  type LookupView,
  type PhysRuns,
  type DirtyLog,
} from '@ioasid/core';
import { LpaeFormat } from './formats/lpae.js';
import { harvestDirty, setTracking } from './dirty-tracking.js';
import { s1Cd } from './cd-builder.js';
import { sl0Encode, tgEncode } from './formats/lpae-geometry.js';
import { checkPointer } from './tables/pointer.js';
import { invRange } from './invalidation.js';
import type { S2Table } from './ste-builder.js';
import { checkLookupPasid, lookupStage } from './lookup.js';
import type { SmmuChildDomain, SmmuS2Domain } from './domain-types.js';
import type { SmmuKernel } from './kernel-context.js';
import { checkParentAttach } from './attach-checks.js';
import { flushParent, retireAsid, retireVmid } from './cache-maintenance.js';

/**
 * A kernel-managed address space: a stage 2 table (Linux ARM_SMMU_DOMAIN_S2) with its own VMID.
 * It holds only what MAP_DMA put there.
 */
export class S2Domain implements SmmuS2Domain {
  readonly protocol = 'map' as const;
  readonly fmt: LpaeFormat;
  readonly table: RadixPageTable;
  readonly vmid: number;
  readonly children = new Set<SmmuChildDomain>();
  /**
   * A stage 1 copy of the address space, made the first time a StreamID reaches it through a CD
   * (attached to a PASID, or at the StreamID of a stream whose PASIDs use CDs), and kept in step
   * with every map and unmap (Linux would have allocated a stage 1 domain from the start).
   */
  s1: { table: RadixPageTable; asid: number } | null = null;
  /** Dirty logging on: STE.S2HA/S2HD and CD.HA/HD set, writable leaves writable-clean (dirty-tracking.ts). */
  tracking = false;

  constructor(private readonly drv: SmmuKernel) {
    // Its own format instance: dirty logging changes how this domain's leaves are written.
    this.fmt = new LpaeFormat(drv.s2Format.geometry, 2, drv.s2Format.outputBits);
    this.table = RadixPageTable.create(drv.host, this.fmt);
    try {
      // STE.S2TTB must lie inside the output size the unit walks with (STE.S2PS = OAS).
      checkPointer('S2TTB', this.table.root * 4096, 16, this.fmt.outputBits);
      this.vmid = drv.vmids.alloc();
    } catch (e) {
      this.table.destroy();
      throw e;
    }
  }

  s2Table(): S2Table {
    return { vmid: this.vmid, geometry: this.fmt.geometry, ttb: this.table.root * 4096, oasBits: this.drv.caps.oasBits, hd: this.tracking };
  }

  info(): { pageSizes: bigint[]; permittedRanges: IovaRange[] } {
    return this.drv.mapDomainInfo();
  }

  checkAttach(dev: DeviceDesc, pasid: number | undefined, replacing?: IommuDomain): string | null {
    return checkParentAttach(this.drv, this, dev, pasid, replacing);
  }

  attach(dev: DeviceDesc, pasid: number | undefined, _replacing?: IommuDomain): void {
    this.drv.streams.must(dev).attachKernel(this, pasid);
  }

  detach(dev: DeviceDesc, pasid: number | undefined, restoring?: IommuDomain): void {
    this.drv.streams.must(dev).detachKernel(this, pasid, restoring);
  }

  map(iova: bigint, size: bigint, phys: PhysRuns, prot: number): void {
    const first = Number(iova >> 12n);
    const frames = Number(size >> 12n);
    this.table.map(first, frames, phys, prot);
    if (this.s1) {
      try {
        this.s1.table.map(first, frames, phys, prot);
      } catch (e) {
        this.table.unmap(first, frames);
        throw e;
      }
    }
  }

  unmap(iova: bigint, size: bigint): void {
    this.table.unmap(Number(iova >> 12n), Number(size >> 12n));
    this.s1?.table.unmap(Number(iova >> 12n), Number(size >> 12n));
    flushParent(this.drv, this, invRange(iova, size, this.fmt.granule, this.fmt.geometry.ias));
  }

  /** Makes the stage 1 copy (replaying every leaf of the stage 2 table). */
  ensureS1(): void {
    if (this.s1) return;
    const fmt = new LpaeFormat(this.drv.s1CopyFormat.geometry, 1, this.drv.s1CopyFormat.outputBits);
    fmt.trackDirty = this.tracking;
    const table = RadixPageTable.create(this.drv.host, fmt);
    try {
      // CD.TTB0 must lie inside the output size of the walk (CD.IPS = OAS).
      checkPointer('TTB0', table.root * 4096, 16, fmt.outputBits);
      ptLeaves(this.table, (leaf) => table.map(leaf.frame, leaf.frames, contiguousRuns(leaf.out, leaf.frames), leaf.perms));
      this.s1 = { table, asid: this.drv.asids.alloc() };
    } catch (e) {
      table.destroy();
      throw e;
    }
  }

  /** Drops a stage 1 copy no StreamID has used yet (undoing ensureS1 after a failed attach). */
  dropUnusedS1(): void {
    if (!this.s1) return;
    this.s1.table.destroy();
    this.drv.asids.free(this.s1.asid);
    this.s1 = null;
  }

  /** The CD a StreamID uses to reach the stage 1 copy (Linux arm_smmu_make_s1_cd). */
  s1Cd(): Uint32Array {
    const s = this.s1!;
    return s1Cd({ ttb0: s.table.root * 4096, granule: this.fmt.granule, ias: this.drv.ias, asid: s.asid, ipsBits: this.drv.caps.oasBits, hd: this.tracking });
  }

  /** SET_DIRTY_TRACKING (Linux arm_smmu_set_dirty_tracking; see dirty-tracking.ts). */
  setDirtyTracking(enable: boolean): void {
    if (enable === this.tracking) return;
    setTracking(this.drv, this, enable, (on) => {
      this.tracking = on;
    });
  }

  /** GET_DIRTY_BITMAP's harvest (Linux arm_smmu_read_and_clear_dirty). */
  readDirty(log: DirtyLog, clear: boolean): void {
    harvestDirty(this.drv, this, log, clear);
  }

  invalidate(req: InvalidateRequest): void {
    // A range reaching past the IPA space (or past 2^64) flushes the whole VMID.
    flushParent(this.drv, this, req.all ? null : invRange(req.iova, req.size, this.fmt.granule, this.fmt.geometry.ias));
  }

  dump(): DomainDump {
    const g = this.fmt.geometry;
    const children: DomainDump[] = this.s1
      ? [{ title: `stage-1 copy used through CDs (ASID ${this.s1.asid})`, inputBase: 0n, format: this.s1.table.fmt.name, root: this.s1.table.dump() }]
      : [];
    return {
      children,
      title: 'stage-2',
      inputBase: 0n,
      format: this.fmt.name,
      root: this.table.dump(),
      context: {
        S2VMID: this.vmid,
        S2TTB: BigInt(this.table.root) * 4096n,
        S2T0SZ: 64 - g.ias,
        S2SL0: sl0Encode(g.granule, g.startLevel),
        S2TG: tgEncode(g.granule),
        startLevel: g.startLevel,
      },
    };
  }

  lookup(iova: bigint, pasid?: number): LookupView {
    checkLookupPasid(pasid);
    if (pasid !== undefined && this.s1) return lookupStage(this.s1.table, iova, 'stage-1');
    return lookupStage(this.table, iova, 'stage-2');
  }

  destroy(): void {
    this.table.destroy();
    if (this.s1) {
      this.s1.table.destroy();
      retireAsid(this.drv, this.s1.asid);
    }
    retireVmid(this.drv, this.vmid);
  }
}
