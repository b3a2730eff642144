import {
  IdAllocator,
  fail,
  type DeviceDesc,
  type DmaRequest,
  type DomainRequest,
  type FaultRecord,
  type HostMemory,
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
import { deviceCapabilities, mapPageSizes, permittedRanges } from './capabilities.js';
import type { StreamTable } from './tables/stream-table.js';
import type { SmmuV3 } from './hw/smmu.js';
import type { IdCaps } from './hw/features.js';
import type { CommandQueue } from './cmdq.js';
import type { EventQueue, PriQueue } from './event-queues.js';
import { S2Domain } from './domain-s2.js';
import { PasidTableDomain } from './domain-pasid-table.js';
import { smmuGuestHelpers } from './guest.js';
import { probeUnit, type SmmuV3Options } from './probe.js';
import { Streams } from './streams.js';
import type { SmmuKernel } from './kernel-context.js';
import { pageResponse } from './page-response.js';

export const VENDOR = 'arm-smmuv3';

/**
 * Why there is no 'user-pgtable' protocol: in a nested STE, S1ContextPtr is an IPA (SMMUv3 §5.2,
 * STE.S1ContextPtr), so a CD table the kernel wrote would have to be mapped into the device's own
 * stage 2, where the guest's stage 1 could point at it and read kernel memory.
 */
const USER_PGTABLE_REFUSED =
  "SMMUv3 offers no 'user-pgtable' protocol: the kernel's CD table would have to be mapped into the device's stage 2 (a nested STE's S1ContextPtr is an IPA); bind the guest's own CD table with 'user-pasid-table' and BIND_PASID_TABLE";

export type { SmmuV3Options };

/**
 * The kernel driver (Linux drivers/iommu/arm/arm-smmu-v3): probes the unit from its ID
 * registers, owns the stream table, the queues and every kernel table, writes STEs and CDs to
 * memory and keeps the caches coherent with commands. It never reads the hardware's caches.
 * This class keeps probe, GET_INFO, createDomain and translate: probe and reset are in probe.ts,
 * the StreamIDs in streams.ts, each a master (master.ts) owning its STE and CD tables; domains call attach and detach
 * (attach-*.ts), binding (nested-bind.ts) and invalidation (cache-maintenance.ts) directly with
 * the shared SmmuKernel, and PAGE_RESPONSE is in page-response.ts.
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
    this.k = {
      ...p,
      streams: new Streams(p),
      vmids: this.vmids,
      asids: this.asids,
      s2Format: this.s2Format,
      s1CopyFormat: this.s1CopyFormat,
      mapDomainInfo: () => this.mapDomainInfo(),
      mapPageSizes: () => this.mapPageSizes(),
    };
    // The interrupt threads (Linux arm_smmu_evtq_thread / arm_smmu_priq_thread) read the queues.
    this.unit.connectIrq((line) => {
      if (line === 'eventq') this.evtq.drain();
      else this.priq?.drain();
    });
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
      return new S2Domain(this.k);
    }
    if (req.protocol !== 'user-pasid-table') fail('EOPNOTSUPP', USER_PGTABLE_REFUSED);
    if (!(this.caps.s1p && this.caps.s2p)) fail('EOPNOTSUPP', 'hardware nesting needs stage 1 and stage 2 (SMMU_IDR0.S1P, S2P)');
    if (!(req.parent instanceof S2Domain)) fail('EOPNOTSUPP', `a ${req.protocol} IOASID on SMMUv3 needs a kernel-managed parent (CREATE_NESTING)`);
    const child = new PasidTableDomain(this.k, req.parent);
    req.parent.children.add(child);
    return child;
  }

  // ---- hardware and faults -----------------------------------------------------------------

  translate(req: DmaRequest): TranslateResult {
    // The unit's interrupts run the event and PRI queue threads (see the constructor).
    return this.unit.translate(req);
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
