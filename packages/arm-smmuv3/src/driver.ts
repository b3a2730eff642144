import {
  IdAllocator,
  fail,
  type DeviceDesc,
  type DmaRequest,
  type DomainRequest,
  type FaultRecord,
  type HostMemory,
  type InvalidateRequest,
  type IoasidInfo,
  type IommuDomain,
  type IommuDriver,
  type IovaRange,
  type MachineContext,
  type PageResponseCode,
  type TranslateResult,
} from '@ioasid/core';
import type { Granule } from './formats/lpae-geometry.js';
import { lpaeStage1Format, lpaeStage2Format, type LpaeFormat } from './formats/lpae.js';
import type { InvRange } from './invalidation.js';
import { deviceCapabilities, mapPageSizes, permittedRanges } from './capabilities.js';
import type { StreamTable } from './tables/stream-table.js';
import type { SmmuV3 } from './hw/smmu.js';
import type { IdCaps } from './hw/features.js';
import type { CommandQueue } from './cmdq.js';
import type { EventQueue, PriQueue } from './event-queues.js';
import { S2Domain } from './domain-s2.js';
import { UserPgtableDomain, type BoundS1 } from './domain-user-pgtable.js';
import { PasidTableDomain, type BoundCdTable } from './domain-pasid-table.js';
import { smmuGuestHelpers } from './guest.js';
import { probeUnit, type SmmuV3Options } from './probe.js';
import { Streams } from './streams.js';
import type { SmmuKernel } from './kernel-context.js';
import { checkChildAttach, checkParentAttach } from './attach-checks.js';
import { attachKernel, detachKernel, detachParent } from './attach-kernel.js';
import { attachPasidTable, attachUserPgtable, detachPasidTable, detachUserPgtable } from './attach-nested.js';
import { bindPasidTable, bindUserPgtable } from './nested-bind.js';
import {
  flushParent,
  invalidatePasidTable,
  invalidateUserPgtable,
  retireAsid,
  retirePasidTable,
  retireUserPgtable,
  retireVmid,
} from './cache-maintenance.js';
import { pageResponse } from './page-response.js';

export const VENDOR = 'arm-smmuv3';

export type { SmmuV3Options };

/**
 * The kernel driver (Linux drivers/iommu/arm/arm-smmu-v3): probes the unit from its ID
 * registers, owns the stream table, the queues and every kernel table, writes STEs and CDs to
 * memory and keeps the caches coherent with commands. It never reads the hardware's caches.
 * This class only routes core's calls: probe and reset are in probe.ts, the StreamIDs and their
 * STEs in streams.ts and stream-ste.ts, attach and detach in attach-*.ts, binding in
 * nested-bind.ts, invalidation in cache-maintenance.ts and PAGE_RESPONSE in page-response.ts.
 */
export class SmmuV3Driver implements IommuDriver {
  readonly vendor = VENDOR;
  readonly guest = smmuGuestHelpers;
  readonly unit: SmmuV3;
  readonly host: HostMemory;
  readonly caps: IdCaps;
  /** Input address size of stage 1 and stage 2 (IAS). */
  readonly ias: number;
  /** Granule of kernel-managed tables (4K when IDR5 offers it, as Linux with 4K pages). */
  readonly mapGranule: Granule;
  readonly strtab: StreamTable;
  readonly cmdq: CommandQueue;
  readonly evtq: EventQueue;
  readonly priq: PriQueue | null;
  /** VMIDs and ASIDs 1..2^width − 1, the widths IDR0.VMID16 / ASID16 give (as Linux's ida ranges). */
  readonly vmids: IdAllocator;
  readonly asids: IdAllocator;
  /**
   * The formats of kernel-managed tables: stage 2, and the stage 1 copy used through CDs. Both
   * output PAs, so entries hold at most OAS bits (SMMU_IDR5.OAS). Shared by every domain.
   */
  readonly s2Format: LpaeFormat;
  readonly s1CopyFormat: LpaeFormat;
  private readonly k: SmmuKernel;

  constructor(ctx: MachineContext, options: SmmuV3Options = {}) {
    const p = probeUnit(ctx.hostMemory, options);
    this.host = p.host;
    this.unit = p.unit;
    this.caps = p.caps;
    this.ias = p.ias;
    this.mapGranule = p.mapGranule;
    this.strtab = p.strtab;
    this.cmdq = p.cmdq;
    this.evtq = p.evtq;
    this.priq = p.priq;
    this.vmids = new IdAllocator(1, 2 ** p.caps.vmidBits, 'VMID', ctx.injector);
    this.asids = new IdAllocator(1, 2 ** p.caps.asidBits, 'ASID', ctx.injector);
    this.s2Format = lpaeStage2Format(p.mapGranule, p.ias, p.caps.oasBits);
    this.s1CopyFormat = lpaeStage1Format(p.mapGranule, p.ias, p.caps.oasBits);
    this.k = { ...p, streams: new Streams(p), vmids: this.vmids, asids: this.asids };
  }

  // ---- GET_INFO ----------------------------------------------------------------------------

  mapPageSizes(): bigint[] {
    return mapPageSizes(this.mapGranule);
  }

  permittedRanges(): IovaRange[] {
    return permittedRanges(this.ias);
  }

  private mapInfo: { pageSizes: bigint[]; permittedRanges: IovaRange[] } | null = null;

  /**
   * What a kernel-managed (MAP_DMA) domain allows: fixed by the probe, so built once (core reads it
   * on every MAP_DMA / UNMAP_DMA) and frozen, as callers share it.
   */
  mapDomainInfo(): { pageSizes: bigint[]; permittedRanges: IovaRange[] } {
    if (this.mapInfo === null) {
      const pageSizes = Object.freeze(this.mapPageSizes()) as bigint[];
      const permittedRanges = Object.freeze(this.permittedRanges().map((r) => Object.freeze(r))) as IovaRange[];
      this.mapInfo = Object.freeze({ pageSizes, permittedRanges });
    }
    return this.mapInfo;
  }

  capabilities(dev: DeviceDesc): IoasidInfo {
    return deviceCapabilities(this.caps, this.ias, this.mapGranule, dev);
  }

  // ---- devices -----------------------------------------------------------------------------

  probeDevice(dev: DeviceDesc): void {
    this.k.streams.probeDevice(dev);
  }

  releaseDevice(dev: DeviceDesc): void {
    this.k.streams.releaseDevice(dev);
  }

  // ---- domains -----------------------------------------------------------------------------

  createDomain(req: DomainRequest): IommuDomain {
    if (req.protocol === 'map') {
      if (req.parent) fail('EOPNOTSUPP', 'a kernel-managed IOASID cannot be nested in hardware on SMMUv3');
      return new S2Domain(this);
    }
    if (!(this.caps.s1p && this.caps.s2p)) fail('EOPNOTSUPP', 'hardware nesting needs stage 1 and stage 2 (SMMU_IDR0.S1P, S2P)');
    if (!(req.parent instanceof S2Domain)) fail('EOPNOTSUPP', `a ${req.protocol} IOASID on SMMUv3 needs a kernel-managed parent (CREATE_NESTING)`);
    const child = req.protocol === 'user-pgtable' ? new UserPgtableDomain(this, req.parent) : new PasidTableDomain(this, req.parent);
    req.parent.children.add(child);
    return child;
  }

  // ---- attach and detach -------------------------------------------------------------------

  checkParentAttach(d: S2Domain, dev: DeviceDesc, pasid: number | undefined, replacing?: IommuDomain): string | null {
    return checkParentAttach(this.k, d, dev, pasid, replacing);
  }

  attachKernel(d: S2Domain, dev: DeviceDesc, pasid: number | undefined): void {
    attachKernel(this.k, d, dev, pasid);
  }

  detachKernel(d: S2Domain, dev: DeviceDesc, pasid: number | undefined, restoring?: IommuDomain): void {
    detachKernel(this.k, d, dev, pasid, restoring);
  }

  detachParent(d: S2Domain, dev: DeviceDesc, restoring?: IommuDomain): void {
    detachParent(this.k, d, dev, restoring);
  }

  checkChildAttach(child: UserPgtableDomain | PasidTableDomain, dev: DeviceDesc, pasid: number | undefined): string | null {
    return checkChildAttach(this.k, child, dev, pasid);
  }

  attachUserPgtable(child: UserPgtableDomain, dev: DeviceDesc, pasid: number | undefined): void {
    attachUserPgtable(this.k, child, dev, pasid);
  }

  detachUserPgtable(child: UserPgtableDomain, dev: DeviceDesc, pasid: number | undefined, restoring?: IommuDomain): void {
    detachUserPgtable(this.k, child, dev, pasid, restoring);
  }

  attachPasidTable(child: PasidTableDomain, dev: DeviceDesc): void {
    attachPasidTable(this.k, child, dev);
  }

  detachPasidTable(child: PasidTableDomain, dev: DeviceDesc, restoring?: IommuDomain): void {
    detachPasidTable(this.k, child, dev, restoring);
  }

  // ---- binding and invalidation ------------------------------------------------------------

  bindUserPgtable(child: UserPgtableDomain, b: BoundS1): void {
    bindUserPgtable(this.k, child, b);
  }

  invalidateUserPgtable(child: UserPgtableDomain, req: InvalidateRequest): void {
    invalidateUserPgtable(this.k, child, req);
  }

  retireUserPgtable(child: UserPgtableDomain): void {
    retireUserPgtable(this.k, child);
  }

  bindPasidTable(child: PasidTableDomain, b: BoundCdTable): void {
    bindPasidTable(this.k, child, b);
  }

  invalidatePasidTable(child: PasidTableDomain, req: InvalidateRequest): void {
    invalidatePasidTable(this.k, child, req);
  }

  retirePasidTable(child: PasidTableDomain): void {
    retirePasidTable(this.k, child);
  }

  /** Invalidates what `d` and the tables nested in it cached for a range (null: everything). */
  flushParent(d: S2Domain, range: InvRange | null): void {
    flushParent(this.k, d, range);
  }

  retireAsid(asid: number): void {
    retireAsid(this.k, asid);
  }

  retireVmid(vmid: number): void {
    retireVmid(this.k, vmid);
  }

  // ---- hardware and faults -----------------------------------------------------------------

  translate(req: DmaRequest): TranslateResult {
    const r = this.unit.translate(req);
    if (typeof r !== 'number') {
      // The event and PRI queue interrupt threads run.
      this.evtq.drain();
      this.priq?.drain();
    }
    return r;
  }

  /** PAGE_RESPONSE: CMD_RESUME for a stalled transaction, CMD_PRI_RESP for a PCIe page request. */
  pageResponse(dev: DeviceDesc, pasid: number, record: FaultRecord, code: PageResponseCode): void {
    pageResponse(this.cmdq, dev, pasid, record, code);
  }

  /** The StreamIDs the driver manages (for tests). */
  streamIds(): number[] {
    return this.k.streams.ids();
  }
}
