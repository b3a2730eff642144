import {
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
import { MAX_IAS, granuleShift, type Granule } from './formats/lpae-geometry.js';
import { LINEAR_CDMAX, deviceCapabilities, mapPageSizes, permittedRanges } from './capabilities.js';
import { OP, PRI_RESP_DENY, PRI_RESP_FAIL, PRI_RESP_SUCC, RESUME_ABORT, RESUME_RETRY } from './tables/commands.js';
import { CdTable, directSpace } from './tables/cd-table.js';
import { StreamTable } from './tables/stream-table.js';
import { S1DSS_BYPASS, S1DSS_SSID0, S1DSS_TERMINATE, STE, STE_CONFIG_NESTED } from './tables/ste.js';
import { getField } from './tables/fields.js';
import { SmmuV3 } from './hw/smmu.js';
import { capsFromIdRegisters, type IdCaps, type SmmuFeatures } from './hw/features.js';
import { CR0, CR1, CR1_CACHE_WB, STRTAB_BASE, STRTAB_BASE_CFG, STRTAB_FMT_2LVL, STRTAB_FMT_LINEAR, regValue } from './hw/registers.js';
import { CommandQueue } from './cmdq.js';
import { EventQueue, PriQueue } from './event-queues.js';
import { IdAllocator } from './id-alloc.js';
import { abortSte, nestedSte, s1Ste, s2Ste } from './ste-builder.js';
import { atcInv, tlbiRange, type Cmd } from './invalidation.js';
import { S2Domain } from './domain-s2.js';
import { UserPgtableDomain, type BoundS1 } from './domain-user-pgtable.js';
import { PasidTableDomain, type BoundCdTable } from './domain-pasid-table.js';
import { streamAts, streamParent, streamPri, streamUses, type StreamState } from './stream-state.js';
import { SH_ISH } from './tables/ste.js';
import { smmuGuestHelpers } from './guest.js';

export const VENDOR = 'arm-smmuv3';

export interface SmmuV3Options {
  /** Overrides of the implementation's features (the ID registers follow). */
  features?: Partial<SmmuFeatures>;
  /** Stream table format; two-level by default when SMMU_IDR0.ST_LEVEL allows it (as Linux). */
  streamTable?: 'linear' | 'two-level';
}


const MDEV_REASON = 'SMMUv3 has no mediated devices: an mdev lives on a PASID of its parent, and a PASID cannot reach a stage 2 space (GET_INFO pasidBits is 0)';

/**
 * The kernel driver (Linux drivers/iommu/arm/arm-smmu-v3): probes the unit from its ID
 * registers, owns the stream table, the queues and every kernel table, writes STEs and CDs to
 * memory and keeps the caches coherent with commands. It never reads the hardware's caches.
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
  readonly vmids = new IdAllocator(1, 2 ** 16, 'VMID');
  readonly asids = new IdAllocator(1, 2 ** 16, 'ASID');
  private readonly streams = new Map<number, StreamState>();

  constructor(ctx: MachineContext, options: SmmuV3Options = {}) {
    this.host = ctx.hostMemory;
    this.unit = new SmmuV3(this.host, options.features);
    const u = this.unit;
    // Probe (Linux arm_smmu_device_hw_probe): everything the driver knows comes from the IDRs.
    this.caps = capsFromIdRegisters({ IDR0: u.read('IDR0'), IDR1: u.read('IDR1'), IDR3: u.read('IDR3'), IDR5: u.read('IDR5') });
    const c = this.caps;
    if (!c.s2p) fail('ENODEV', 'this model needs stage 2 (SMMU_IDR0.S2P)');
    if (c.granules.length === 0) fail('ENODEV', 'SMMU_IDR5 offers no translation granule');
    this.ias = Math.min(MAX_IAS, Math.max(c.s1p ? 48 : 0, c.oasBits));
    this.mapGranule = c.granules.includes(4096) ? 4096 : c.granules[0];
    // Reset (Linux arm_smmu_device_reset): tables and queues first, then enable.
    u.write('CR0', 0n);
    u.write('CR1', regValue(CR1, { QUEUE_IC: CR1_CACHE_WB, QUEUE_OC: CR1_CACHE_WB, QUEUE_SH: SH_ISH, TABLE_IC: CR1_CACHE_WB, TABLE_OC: CR1_CACHE_WB, TABLE_SH: SH_ISH }));
    const twoLevel = options.streamTable ? options.streamTable === 'two-level' : c.twoLevelStreamTable;
    if (twoLevel && !c.twoLevelStreamTable) fail('EINVAL', 'two-level stream tables are not supported (SMMU_IDR0.ST_LEVEL)');
    this.strtab = new StreamTable(this.host, { twoLevel, log2size: c.sidBits });
    u.write('STRTAB_BASE', regValue(STRTAB_BASE, { RA: true, ADDR: this.strtab.baseAddr / 64 }));
    u.write('STRTAB_BASE_CFG', regValue(STRTAB_BASE_CFG, { FMT: twoLevel ? STRTAB_FMT_2LVL : STRTAB_FMT_LINEAR, SPLIT: this.strtab.split, LOG2SIZE: c.sidBits }));
    this.cmdq = new CommandQueue(this.host, u, Math.min(8, c.cmdqs));
    this.evtq = new EventQueue(this.host, u, Math.min(7, c.eventqs));
    this.priq = c.pri ? new PriQueue(this.host, u, Math.min(8, c.priqs)) : null;
    u.write('CR0', regValue(CR0, { CMDQEN: true }));
    this.cmdq.issue([[OP.CFGI_ALL, { RANGE: 31 }], [OP.TLBI_NSNH_ALL, {}]]);
    const on = { CMDQEN: true, EVENTQEN: true, PRIQEN: c.pri };
    u.write('CR0', regValue(CR0, on));
    u.write('CR0', regValue(CR0, { ...on, SMMUEN: true }));
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

  private stream(dev: DeviceDesc): StreamState | undefined {
    return this.streams.get(dev.rid);
  }

  private mustStream(dev: DeviceDesc): StreamState {
    const s = this.stream(dev);
    if (!s) fail('EINVAL', `device ${dev.name} (RID 0x${dev.rid.toString(16)}) is not probed`);
    return s;
  }

  probeDevice(dev: DeviceDesc): void {
    let s = this.streams.get(dev.rid);
    if (!s) {
      this.strtab.ensure(dev.rid);
      s = { sid: dev.rid, devices: new Set(), rid: null, pasids: new Map(), kpasids: new Map(), hcd: null, kcd: null, kcdParent: null, ste: null };
      this.streams.set(dev.rid, s);
      s.devices.add(dev);
      this.updateStream(s);
      return;
    }
    s.devices.add(dev);
  }

  releaseDevice(dev: DeviceDesc): void {
    const s = this.stream(dev);
    if (!s) return;
    s.devices.delete(dev);
    if (s.devices.size > 0) return;
    if (s.rid instanceof PasidTableDomain) s.rid.streams.delete(s);
    else if (s.rid instanceof UserPgtableDomain) s.rid.attachments.delete(s);
    for (const c of s.pasids.values()) c.attachments.delete(s);
    s.rid = null;
    s.pasids.clear();
    s.kpasids.clear();
    this.updateStream(s);
    this.releaseKcd(s);
    this.releaseHcd(s);
    this.streams.delete(s.sid);
  }

  // ---- STE composition ---------------------------------------------------------------------

  private kernelS1Bound(s: StreamState): boolean {
    if (s.rid instanceof UserPgtableDomain && s.rid.bound) return true;
    for (const c of s.pasids.values()) if (c.bound) return true;
    return false;
  }

  /** The STE the stream's attachments call for (Linux arm_smmu_make_*_ste). */
  private steFor(s: StreamState): Uint32Array {
    const ats = streamAts(s) && this.caps.ats;
    if (s.kpasids.size > 0 && s.hcd) {
      // Kernel-managed spaces per SubstreamID: stage 1 STE; CD 0 serves the StreamID's own space.
      const s1dss = s.rid instanceof S2Domain ? S1DSS_SSID0 : S1DSS_TERMINATE;
      return s1Ste({ ctxPtr: s.hcd.addr, s1fmt: s.hcd.s1fmt, s1cdmax: s.hcd.s1cdmax, s1dss, stallDisabled: true }, ats);
    }
    const p = streamParent(s);
    if (!p) return abortSte();
    if (this.kernelS1Bound(s) && s.kcd) {
      // Non-PASID traffic: CD 0 when a stage 1 table is attached at the StreamID, stage 2 only
      // when the parent is, and terminated while the StreamID is between two attachments.
      const s1dss = s.rid instanceof UserPgtableDomain ? S1DSS_SSID0 : s.rid ? S1DSS_BYPASS : S1DSS_TERMINATE;
      return nestedSte({ ctxPtr: s.kcd.addr, s1fmt: s.kcd.s1fmt, s1cdmax: s.kcd.s1cdmax, s1dss, stallDisabled: true }, p.s2Table(), ats);
    }
    if (s.rid instanceof PasidTableDomain && s.rid.bound) {
      const b = s.rid.bound;
      return nestedSte(
        { ctxPtr: b.ctxPtr, s1fmt: b.s1fmt, s1cdmax: b.s1cdmax, s1dss: S1DSS_SSID0, stallDisabled: true },
        { ...p.s2Table(), vmid: s.rid.vmid },
        ats,
      );
    }
    if (!s.rid) return abortSte();
    return s2Ste(p.s2Table(), ats);
  }

  /** Writes the stream's STE if it changed, then CFGI_STE + SYNC, ATC invalidation and ATS/PRI enables. */
  private updateStream(s: StreamState): void {
    const ste = this.steFor(s);
    if (s.ste && s.ste.every((w, i) => w === ste[i])) return;
    const ep = this.unit.endpoints.peek(s.sid);
    const eats = getField(ste, 0, STE.EATS) !== 0;
    const nested = getField(ste, 0, STE.Config) === STE_CONFIG_NESTED;
    if (ep?.atsEnabled && !eats) this.unit.configureEndpoint(s.sid, { ats: false });
    this.strtab.writeSte(s.sid, ste);
    this.cmdq.issue([[OP.CFGI_STE, { SID: s.sid, LEAF: 1 }]]);
    if (ep?.atsEnabled && eats) this.cmdq.issue([atcInv(s.sid, null, 0, 0)]);
    if (eats) this.unit.configureEndpoint(s.sid, { ats: true });
    this.unit.configureEndpoint(s.sid, { pri: nested && streamPri(s) && this.caps.pri });
    s.ste = ste;
  }

  /** The stream's kernel CD table, created in the parent's MSI hole on first use. */
  private ensureKcd(s: StreamState): CdTable {
    if (s.kcd) return s.kcd;
    const p = streamParent(s)!;
    const two = this.caps.cd2l;
    s.kcd = CdTable.create(p.holeSpace(), two ? 'two-level' : 'linear', two ? this.caps.ssidBits : Math.min(this.caps.ssidBits, LINEAR_CDMAX));
    s.kcdParent = p;
    return s.kcd;
  }

  /** Frees the kernel CD table once no stage 1 child is attached (the STE no longer points at it). */
  private releaseKcd(s: StreamState): void {
    if (!s.kcd) return;
    if (s.rid instanceof UserPgtableDomain || s.pasids.size > 0) return;
    s.kcd.destroy();
    s.kcd = null;
    s.kcdParent = null;
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

  checkParentAttach(d: S2Domain, dev: DeviceDesc, pasid: number | undefined, replacing?: IommuDomain): string | null {
    if (dev.kind === 'mdev') return MDEV_REASON;
    const s = this.stream(dev);
    if (!s) return `device ${dev.name} is not probed`;
    if (pasid !== undefined) {
      if (!Number.isInteger(pasid) || pasid < 1 || pasid >= 2 ** this.caps.ssidBits) {
        return `PASID ${pasid} must be in 1..${2 ** this.caps.ssidBits - 1} (SubstreamID 0 carries the non-PASID traffic)`;
      }
      if (!this.caps.cd2l && pasid >= 2 ** LINEAR_CDMAX) return `PASID ${pasid} is beyond the linear CD table (2^${LINEAR_CDMAX})`;
      if ((s.rid && !(s.rid instanceof S2Domain)) || s.pasids.size > 0) {
        return 'the StreamID uses a nested (stage 1 + stage 2) STE; a kernel-managed IOASID on a PASID needs a stage 1 STE';
      }
      const cur = s.kpasids.get(pasid);
      if (cur && cur !== d) return `PASID ${pasid} of the device is attached to another IOASID`;
      return null;
    }
    if (s.rid && s.rid !== d && s.rid !== replacing) return `StreamID 0x${s.sid.toString(16)} is already attached to another IOASID`;
    if (s.pasids.size > 0 && streamParent(s) !== d) return 'PASIDs of the device are attached to stage 1 tables nested in another IOASID';
    return null;
  }

  /** The stream's CD table in host memory for kernel-managed spaces on SubstreamIDs. */
  private ensureHcd(s: StreamState): CdTable {
    if (!s.hcd) {
      const two = this.caps.cd2l;
      s.hcd = CdTable.create(directSpace(this.host), two ? 'two-level' : 'linear', two ? this.caps.ssidBits : Math.min(this.caps.ssidBits, LINEAR_CDMAX));
    }
    return s.hcd;
  }

  private releaseHcd(s: StreamState): void {
    if (s.hcd && s.kpasids.size === 0) {
      s.hcd.destroy();
      s.hcd = null;
    }
  }

  /**
   * Attach of a kernel-managed space: at the StreamID (stage 2 STE, or CD 0 of a stage 1 STE when
   * the stream's PASIDs use CDs), or at a SubstreamID (a CD pointing at the space's stage 1 copy).
   * Everything that can fail (allocations) happens before anything visible changes.
   */
  attachKernel(d: S2Domain, dev: DeviceDesc, pasid: number | undefined): void {
    const s = this.mustStream(dev);
    const rid = pasid === undefined ? d : s.rid instanceof S2Domain ? s.rid : null;
    const needCds = pasid !== undefined || s.kpasids.size > 0;
    if (needCds) {
      const hadHcd = s.hcd !== null;
      const madeS1 = [d, rid].filter((x): x is S2Domain => !!x && !x.s1);
      const leaves: number[] = [];
      try {
        const hcd = this.ensureHcd(s);
        for (const x of madeS1) x.ensureS1();
        for (const ssid of pasid !== undefined ? [pasid, ...(rid ? [0] : [])] : [0]) if (hcd.reserve(ssid)) leaves.push(ssid);
      } catch (e) {
        for (const x of madeS1) x.dropUnusedS1();
        if (!hadHcd && s.hcd) {
          s.hcd.destroy();
          s.hcd = null;
        } else for (const ssid of leaves) s.hcd?.dropLeaf(ssid);
        throw e;
      }
      const hcd = s.hcd!;
      const cmds: Cmd[] = [];
      if (pasid !== undefined) {
        hcd.write(pasid, d.s1Cd());
        cmds.push([OP.CFGI_CD, { SID: s.sid, SSID: pasid, LEAF: 1 }]);
      }
      if (rid) {
        hcd.write(0, rid.s1Cd());
        cmds.push([OP.CFGI_CD, { SID: s.sid, SSID: 0, LEAF: 1 }]);
      }
      this.cmdq.issue(cmds);
    }
    if (pasid === undefined) s.rid = d;
    else s.kpasids.set(pasid, d);
    this.updateStream(s);
  }

  detachKernel(d: S2Domain, dev: DeviceDesc, pasid: number | undefined, restoring?: IommuDomain): void {
    if (pasid === undefined) {
      this.detachParent(d, dev, restoring);
      return;
    }
    const s = this.mustStream(dev);
    if (s.kpasids.get(pasid) !== d) return;
    s.kpasids.delete(pasid);
    this.updateStream(s);
    if (s.hcd) {
      s.hcd.clear(pasid);
      this.cmdq.issue([[OP.CFGI_CD, { SID: s.sid, SSID: pasid, LEAF: 1 }]]);
      if (this.unit.endpoints.peek(s.sid)?.atsEnabled) this.cmdq.issue([atcInv(s.sid, pasid, 0, 0)]);
    }
    this.releaseHcd(s);
  }

  /** The route of the StreamID after a detach: back to the domain underneath, or blocked. */
  private restored(restoring: IommuDomain | undefined): StreamState['rid'] {
    return restoring instanceof S2Domain || restoring instanceof UserPgtableDomain || restoring instanceof PasidTableDomain ? restoring : null;
  }

  detachParent(d: S2Domain, dev: DeviceDesc, restoring?: IommuDomain): void {
    const s = this.mustStream(dev);
    if (s.rid !== d) return;
    const next = this.restored(restoring);
    if (s.kpasids.size > 0 && s.hcd) {
      // CD 0 follows the StreamID's space (or is cleared: S1DSS then terminates).
      if (next instanceof S2Domain) {
        next.ensureS1();
        s.hcd.write(0, next.s1Cd());
      } else s.hcd.clear(0);
      this.cmdq.issue([[OP.CFGI_CD, { SID: s.sid, SSID: 0, LEAF: 1 }]]);
    }
    s.rid = next;
    this.updateStream(s);
    this.releaseKcd(s);
  }

  checkChildAttach(child: UserPgtableDomain | PasidTableDomain, dev: DeviceDesc, pasid: number | undefined): string | null {
    if (dev.kind === 'mdev') return MDEV_REASON;
    const s = this.stream(dev);
    if (!s) return `device ${dev.name} is not probed`;
    if (streamParent(s) !== child.parent) return 'the device must be attached to the parent IOASID first';
    const ridChild = s.rid instanceof S2Domain ? null : s.rid;
    if (s.kpasids.size > 0) return 'PASIDs of the device use kernel-managed IOASIDs (stage 1 STE); nesting needs a stage 1 + stage 2 STE';
    if (child instanceof PasidTableDomain) {
      if (pasid !== undefined) return 'a PASID-table IOASID represents the device\'s whole PASID space: attach it without a PASID';
      if (ridChild && ridChild !== child) return 'the device is already attached to another nesting IOASID';
      if (s.pasids.size > 0) return 'PASIDs of the device are attached to stage 1 tables';
      return null;
    }
    if (pasid === undefined) {
      if (ridChild && ridChild !== child) return 'the device is already attached to another nesting IOASID';
      return null;
    }
    if (!Number.isInteger(pasid) || pasid < 1 || pasid >= 2 ** this.caps.ssidBits) {
      return `PASID ${pasid} must be in 1..${2 ** this.caps.ssidBits - 1} (SubstreamID 0 carries the non-PASID traffic)`;
    }
    if (!this.caps.cd2l && pasid >= 2 ** LINEAR_CDMAX) return `PASID ${pasid} is beyond the linear CD table (2^${LINEAR_CDMAX})`;
    if (ridChild instanceof PasidTableDomain) return 'the device\'s PASID space belongs to its PASID table';
    const cur = s.pasids.get(pasid);
    if (cur && cur !== child) return `PASID ${pasid} of the device is attached to another IOASID`;
    return null;
  }

  private ssids(child: UserPgtableDomain, s: StreamState): Set<number> {
    let set = child.attachments.get(s);
    if (!set) {
      set = new Set();
      child.attachments.set(s, set);
    }
    return set;
  }

  attachUserPgtable(child: UserPgtableDomain, dev: DeviceDesc, pasid: number | undefined): void {
    const s = this.mustStream(dev);
    const ssid = pasid ?? 0;
    if (child.bound) {
      const hadKcd = s.kcd !== null;
      const kcd = this.ensureKcd(s);
      try {
        kcd.write(ssid, child.cd());
      } catch (e) {
        if (!hadKcd) {
          kcd.destroy();
          s.kcd = null;
          s.kcdParent = null;
        }
        throw e;
      }
      this.cmdq.issue([[OP.CFGI_CD, { SID: s.sid, SSID: ssid, LEAF: 1 }]]);
    }
    if (pasid === undefined) s.rid = child;
    else s.pasids.set(pasid, child);
    this.ssids(child, s).add(ssid);
    this.updateStream(s);
  }

  detachUserPgtable(child: UserPgtableDomain, dev: DeviceDesc, pasid: number | undefined, restoring?: IommuDomain): void {
    const s = this.mustStream(dev);
    const ssid = pasid ?? 0;
    if (pasid === undefined) {
      if (s.rid === child) s.rid = this.restored(restoring);
    } else if (s.pasids.get(pasid) === child) s.pasids.delete(pasid);
    const set = child.attachments.get(s);
    set?.delete(ssid);
    if (set?.size === 0) child.attachments.delete(s);
    this.updateStream(s);
    if (s.kcd) {
      s.kcd.clear(ssid);
      const cmds: Cmd[] = [[OP.CFGI_CD, { SID: s.sid, SSID: ssid, LEAF: 1 }]];
      this.cmdq.issue(cmds);
      if (this.unit.endpoints.peek(s.sid)?.atsEnabled) this.cmdq.issue([atcInv(s.sid, pasid ?? null, 0, 0)]);
    }
    this.releaseKcd(s);
  }

  bindUserPgtable(child: UserPgtableDomain, b: BoundS1): void {
    // Allocate every kernel CD table and leaf first, so a failure leaves everything as it was.
    const created: StreamState[] = [];
    const reserved: [StreamState, number][] = [];
    try {
      for (const [s, set] of child.attachments) {
        if (!s.kcd) {
          this.ensureKcd(s);
          created.push(s);
        }
        for (const ssid of set) if (s.kcd!.reserve(ssid)) reserved.push([s, ssid]);
      }
    } catch (e) {
      for (const [s, ssid] of reserved) if (!created.includes(s)) s.kcd!.dropLeaf(ssid);
      for (const s of created) {
        s.kcd!.destroy();
        s.kcd = null;
        s.kcdParent = null;
      }
      throw e;
    }
    const rebind = child.bound !== null;
    child.bound = b;
    const cd = child.cd();
    for (const [s, set] of child.attachments) for (const ssid of set) s.kcd!.write(ssid, cd);
    const cmds: Cmd[] = [];
    for (const [s, set] of child.attachments) for (const ssid of set) cmds.push([OP.CFGI_CD, { SID: s.sid, SSID: ssid, LEAF: 1 }]);
    if (rebind) cmds.push([OP.TLBI_NH_ASID, { VMID: child.vmid, ASID: child.asid }]);
    this.cmdq.issue(cmds);
    for (const s of child.attachments.keys()) this.updateStream(s);
    if (rebind) this.atcFlushChild(child, 0, 0);
  }

  private atcFlushChild(child: UserPgtableDomain, iova: number, size: number): void {
    const cmds: Cmd[] = [];
    for (const [s, set] of child.attachments) {
      if (!this.unit.endpoints.peek(s.sid)?.atsEnabled) continue;
      for (const ssid of set) cmds.push(atcInv(s.sid, ssid === 0 ? null : ssid, iova, size));
    }
    if (cmds.length) this.cmdq.issue(cmds);
  }

  invalidateUserPgtable(child: UserPgtableDomain, req: InvalidateRequest): void {
    if (req.all) {
      this.cmdq.issue([[OP.TLBI_NH_ASID, { VMID: child.vmid, ASID: child.asid }]]);
      this.atcFlushChild(child, 0, 0);
      return;
    }
    const iova = Number(req.iova);
    const size = Number(req.size);
    const g = child.bound?.granule ?? 4096;
    this.cmdq.issue(tlbiRange(OP.TLBI_NH_VA, { VMID: child.vmid, ASID: child.asid }, iova, size, granuleShift(g), g, this.caps.rangeInvalidation));
    this.atcFlushChild(child, iova, size);
  }

  retireUserPgtable(child: UserPgtableDomain): void {
    child.parent.children.delete(child);
    this.cmdq.issue([[OP.TLBI_NH_ASID, { VMID: child.vmid, ASID: child.asid }]]);
    this.asids.free(child.asid);
  }

  attachPasidTable(child: PasidTableDomain, dev: DeviceDesc): void {
    const s = this.mustStream(dev);
    s.rid = child;
    child.streams.add(s);
    this.updateStream(s);
  }

  detachPasidTable(child: PasidTableDomain, dev: DeviceDesc, restoring?: IommuDomain): void {
    const s = this.mustStream(dev);
    if (s.rid === child) s.rid = this.restored(restoring);
    child.streams.delete(s);
    this.updateStream(s);
  }

  bindPasidTable(child: PasidTableDomain, b: BoundCdTable): void {
    const rebind = child.bound !== null;
    child.bound = b;
    for (const s of child.streams) this.updateStream(s);
    if (rebind) {
      this.cmdq.issue([[OP.TLBI_NH_ALL, { VMID: child.vmid }]]);
      this.atcFlushStreams(child.streams, null, 0, 0);
    }
  }

  private atcFlushStreams(streams: Iterable<StreamState>, ssid: number | null, iova: number, size: number): void {
    const cmds: Cmd[] = [];
    for (const s of streams) if (this.unit.endpoints.peek(s.sid)?.atsEnabled) cmds.push(atcInv(s.sid, ssid, iova, size));
    if (cmds.length) this.cmdq.issue(cmds);
  }

  /** INVALIDATE_CACHE on a bound guest CD table (DESIGN §9): CFGI_CD(_ALL) and TLBI_NH_* for its contexts. */
  invalidatePasidTable(child: PasidTableDomain, req: InvalidateRequest): void {
    const vmid = child.vmid;
    if (req.all && req.pasid === undefined) {
      const cmds: Cmd[] = [...child.streams].map((s) => [OP.CFGI_CD_ALL, { SID: s.sid }] as Cmd);
      cmds.push([OP.TLBI_NH_ALL, { VMID: vmid }]);
      this.cmdq.issue(cmds);
      this.atcFlushStreams(child.streams, null, 0, 0);
      return;
    }
    const ssid = req.pasid ?? 0;
    if (req.all) {
      this.cmdq.issue([...child.streams].map((s) => [OP.CFGI_CD, { SID: s.sid, SSID: ssid, LEAF: 1 }] as Cmd));
    }
    // The ASID (and granule) of that context, read from the guest's CD as the kernel sees it.
    const cd = child.guestCd(ssid);
    const valid = cd !== null && cd.fields.V === 1;
    if (req.all) {
      this.cmdq.issue([valid ? [OP.TLBI_NH_ASID, { VMID: vmid, ASID: cd!.fields.ASID }] : [OP.TLBI_NH_ALL, { VMID: vmid }]]);
      this.atcFlushStreams(child.streams, req.pasid ?? null, 0, 0);
      return;
    }
    const iova = Number(req.iova);
    const size = Number(req.size);
    if (valid) {
      const g = ([4096, 65536, 16384] as const)[cd!.fields.TG0] ?? 4096;
      this.cmdq.issue(tlbiRange(OP.TLBI_NH_VA, { VMID: vmid, ASID: cd!.fields.ASID }, iova, size, granuleShift(g), g, this.caps.rangeInvalidation));
    } else {
      this.cmdq.issue([[OP.TLBI_NH_ALL, { VMID: vmid }]]);
    }
    this.atcFlushStreams(child.streams, req.pasid ?? null, iova, size);
  }

  retirePasidTable(child: PasidTableDomain): void {
    child.parent.children.delete(child);
    this.retireVmid(child.vmid);
  }

  /**
   * After a stage 2 change (unmap, INVALIDATE_CACHE): TLBI_S2_IPA for the range, TLBI_NH_ALL for
   * the kernel's stage 1 children (they share the VMID, as Linux does for a nesting parent),
   * TLBI_S12_VMALL for each PASID-table child's VMID; then the ATCs. `size` 0 means everything.
   */
  flushParent(d: S2Domain, iova: number, size: number): void {
    const cmds: Cmd[] = [];
    if (size === 0) cmds.push([OP.TLBI_S12_VMALL, { VMID: d.vmid }]);
    else {
      cmds.push(...tlbiRange(OP.TLBI_S2_IPA, { VMID: d.vmid }, iova, size, granuleShift(d.fmt.granule), d.fmt.granule, this.caps.rangeInvalidation));
      for (const c of d.children) {
        if (c instanceof UserPgtableDomain) {
          cmds.push([OP.TLBI_NH_ALL, { VMID: d.vmid }]);
          break;
        }
      }
    }
    for (const c of d.children) if (c instanceof PasidTableDomain) cmds.push([OP.TLBI_S12_VMALL, { VMID: c.vmid }]);
    if (d.s1) {
      // The stage 1 copy: stage 1 STEs tag its entries with VMID 0 and its ASID.
      const base = { VMID: 0, ASID: d.s1.asid };
      if (size === 0) cmds.push([OP.TLBI_NH_ASID, base]);
      else cmds.push(...tlbiRange(OP.TLBI_NH_VA, base, iova, size, granuleShift(d.fmt.granule), d.fmt.granule, this.caps.rangeInvalidation));
    }
    this.cmdq.issue(cmds);
    const atc: Cmd[] = [];
    for (const s of this.streams.values()) {
      if (!streamUses(s, d) || !this.unit.endpoints.peek(s.sid)?.atsEnabled) continue;
      const s2only = s.ste !== null && getField(s.ste, 0, STE.Config) !== STE_CONFIG_NESTED;
      atc.push(s2only ? atcInv(s.sid, null, iova, size) : atcInv(s.sid, null, 0, 0));
    }
    if (atc.length) this.cmdq.issue(atc);
  }

  /** An ASID of the kernel's stage 1 (VMID 0) leaves use. */
  retireAsid(asid: number): void {
    this.cmdq.issue([[OP.TLBI_NH_ASID, { VMID: 0, ASID: asid }]]);
    this.asids.free(asid);
  }

  /** A VMID leaves use: TLBI_S12_VMALL so a later owner finds no stale entry. */
  retireVmid(vmid: number): void {
    this.cmdq.issue([[OP.TLBI_S12_VMALL, { VMID: vmid }]]);
    this.vmids.free(vmid);
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
    const sid = dev.rid;
    if (record.stall) {
      this.cmdq.issue([[OP.RESUME, { SID: sid, STAG: record.stag as number, RESUME_RESP: code === 'success' ? RESUME_RETRY : RESUME_ABORT }]]);
      return;
    }
    if (record.prgIndex === undefined) return;
    const resp = code === 'success' ? PRI_RESP_SUCC : code === 'invalid' ? PRI_RESP_DENY : PRI_RESP_FAIL;
    const ssv = pasid >= 0;
    this.cmdq.issue([[OP.PRI_RESP, { SID: sid, SSV: ssv ? 1 : 0, SSID: ssv ? pasid : 0, GRPID: record.prgIndex as number, PRI_RESP: resp }]]);
  }

  /** The StreamIDs the driver manages (for tests). */
  streamIds(): number[] {
    return [...this.streams.keys()];
  }
}
