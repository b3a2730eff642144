import {
  type DeviceDesc,
  type DmaRequest,
  type DomainRequest,
  fail,
  type FaultRecord,
  getFieldBig,
  setFieldBig,
  type GuestKernelHelpers,
  IdAllocator,
  type HostMemory,
  type IoasidInfo,
  type IommuDomain,
  type IommuDriver,
  type MachineContext,
  type PageResponseCode,
  type PgtableFormat,
  type TranslateResult,
} from '@ioasid/core';
import { devTlbFlush, pasidEntryChangeFlush, type Attachment, type FlushCaps } from './cache-tags.js';
import { ContextTables } from './context-table.js';
import { VtdNestedDomain } from './domain-nested.js';
import { VtdSecondLevelDomain } from './domain-second-level.js';
import type { VtdDomain } from './domain.js';
import type { DeviceAttachment, RouteOwner, VtdDomainHost } from './domain-host.js';
import { FirstLevelFormat, type FirstLevelLevels } from './formats/first-level.js';
import { slLevelsForWidth } from './formats/second-level.js';
import {
  CAP_FL1GP, CAP_FL5LP, CAP_MAMV, CAP_PSI, CAP_SLLPS, DEFAULT_UNIT_CONFIG, ECAP_C, ECAP_DT, ECAP_NEST, ECAP_PASID,
  ECAP_PRS, ECAP_SLADS, ECAP_SLTS, ECAP_SMPWCS, FRCD_F, FRCD_FI, FRCD_FR, FRCD_PP, FRCD_PV, FRCD_SID, FRCD_T, FSTS_FRI, FSTS_PFO, FSTS_PPF, CAP_NFR, GCMD_QIE, GCMD_SRTP, GCMD_TE, PQA_PQA, PQA_PQS, PQH_PQH, PQT_PQT, PRS_PPR, RTADDR_RTA,
  RTADDR_TTM, TTM_SCALABLE, capNdoms, flPageSizes, pasidBits, reg, regBig, slPageSizes, unitAddressWidth, withField, type UnitConfig,
} from './hw/registers.js';
import { VtdUnit } from './hw/unit.js';
import { faultMeaning, faultName } from './hw/fault-reasons.js';
import { QueuedInvalidation } from './qi.js';
import { checkHostPointer } from './host-address.js';
import { decodePageRequest, PRQ_DESC_BYTES } from './tables/page-request.js';
import { CC_GLOBAL, IOTLB_GLOBAL, PC_GLOBAL, RESP_FAILURE, RESP_INVALID, RESP_SUCCESS, type InvDesc } from './tables/inv-desc.js';
import { decodePasidEntry, encodePasidEntry, PASID_ENTRY_QWORDS, PE_SLADE, PGTT_NESTED, PGTT_SL_ONLY } from './tables/pasid-entry.js';
import { readQwords, writeQwords, hex } from './tables/qwords.js';

/** Page request queue order Linux uses (PRQ_ORDER): 16 pages. */
const PRQ_ORDER = 4;

interface Route {
  rid: number;
  pasid: number;
  ridLevel: boolean;
  /** Domains attached at this route, the last one programmed (a nested child over its parent). */
  stack: RouteOwner[];
}

/**
 * The kernel's VT-d driver for one unit (after Linux drivers/iommu/intel/): sets the unit up in
 * scalable mode, programs context and PASID entries, allocates domain IDs, issues invalidations
 * through the queue, services the fault-recording registers and the page request queue.
 */
export class VtdDriver implements IommuDriver, VtdDomainHost {
  readonly vendor = 'intel-vtd';
  readonly allocFormatKeys = { 'user-pgtable': ['kind', 'levels'] } as const; // CREATE_NESTING fields createDomain reads
  readonly unit: VtdUnit;
  readonly host: HostMemory;
  readonly tables: ContextTables;
  readonly qi: QueuedInvalidation;
  readonly addressWidth: number;
  readonly slLevels: 3 | 4 | 5;
  readonly sllps: number;
  readonly pasidBits: number;
  readonly slPageSizes: bigint[];
  readonly flPageSizes: bigint[];
  readonly pageWalkSnoop: boolean;
  readonly flushCaps: FlushCaps;
  /** Fault records the fault interrupt handler has read out of FRCD (oldest first). */
  readonly faultLog: FaultRecord[] = [];
  /** The guest kernel's view of the bindable formats (VT-d first-level tables). */
  readonly guest: GuestKernelHelpers = {
    pageTableFormat: (format: PgtableFormat) => this.firstLevelFormat(this.checkFirstLevelFormat(format, 'format')),
  };
  private readonly prqFrame: number;
  private gcmd = 0;
  /**
   * Domain IDs: 1 .. cap_ndoms - 1, where cap_ndoms = 2^(4 + 2·CAP_REG.ND) (Linux cap_ndoms); DID 0
   * stays reserved, as Linux reserves it. O(1) alloc and free, ENOSPC when all are in use.
   */
  readonly dids: IdAllocator;
  private readonly routes = new Map<number, Route>();
  private readonly flFormats = new Map<number, FirstLevelFormat>();

  constructor(ctx: MachineContext, cfg: UnitConfig = DEFAULT_UNIT_CONFIG) {
    this.host = ctx.hostMemory;
    this.unit = new VtdUnit(this.host, cfg);
    const cap = this.unit.cap;
    const ecap = this.unit.ecap;
    this.addressWidth = unitAddressWidth(cap);
    this.slLevels = slLevelsForWidth(this.addressWidth);
    this.sllps = reg(cap, CAP_SLLPS);
    this.pasidBits = pasidBits(ecap);
    this.slPageSizes = slPageSizes(cap);
    this.flPageSizes = flPageSizes(cap);
    this.pageWalkSnoop = reg(ecap, ECAP_SMPWCS) === 1;
    this.flushCaps = { psi: reg(cap, CAP_PSI) === 1, mamv: reg(cap, CAP_MAMV) };
    for (const l of [4, 5] as const) this.flFormats.set(l, new FirstLevelFormat({ levels: l, fl1gp: reg(cap, CAP_FL1GP) === 1, haw: this.unit.haw }));
    this.dids = new IdAllocator(1, capNdoms(cap), 'domain ID', ctx.injector);

    // Bring-up as Linux does it: root table (SRTP), queued invalidation, global flushes, page request queue, then TE.
    this.tables = new ContextTables(this.host, this.unit.haw);
    this.unit.write('RTADDR_REG', withField(withField(0n, RTADDR_RTA, this.tables.rootFrame), RTADDR_TTM, TTM_SCALABLE));
    this.command(GCMD_SRTP);
    this.qi = new QueuedInvalidation(this.host, this.unit);
    this.setGcmd(GCMD_QIE);
    this.qi.submit([
      { type: 'cc', gran: CC_GLOBAL, did: 0, sid: 0, fm: 0 },
      { type: 'pc', gran: PC_GLOBAL, did: 0, pasid: 0 },
      { type: 'iotlb', gran: IOTLB_GLOBAL, did: 0, addr: 0n, am: 0, ih: false, dr: true, dw: true },
    ]);
    this.prqFrame = this.host.allocFrames(1 << PRQ_ORDER, 1 << PRQ_ORDER);
    checkHostPointer(this.prqFrame, 1 << PRQ_ORDER, this.unit.haw, 'page request queue (PQA_REG.PQA)');
    this.unit.write('PQA_REG', withField(withField(0n, PQA_PQA, this.prqFrame), PQA_PQS, PRQ_ORDER));
    // The fault and page request interrupts (Linux dmar_set_interrupt, intel_iommu_enable_prq).
    this.unit.interrupts.fault = () => this.serviceFaults();
    this.unit.interrupts.pageRequest = () => this.servicePageRequests();
    this.setGcmd(GCMD_TE);
  }

  /** The unit's host address width (HAW). */
  get haw(): number {
    return this.unit.haw;
  }

  private command(bit: number): void {
    this.unit.write('GCMD_REG', BigInt(this.gcmd | bit));
  }

  private setGcmd(bit: number): void {
    this.gcmd |= bit;
    this.unit.write('GCMD_REG', BigInt(this.gcmd));
  }

  // ---- GET_INFO ---------------------------------------------------------------------------------

  capabilities(dev: DeviceDesc): IoasidInfo {
    const cap = this.unit.cap;
    const ecap = this.unit.ecap;
    const formats: PgtableFormat[] = [{ kind: 'vtd-first-level', levels: 4 }];
    if (reg(cap, CAP_FL5LP)) formats.push({ kind: 'vtd-first-level', levels: 5 });
    const aw = unitAddressWidth(cap);
    return {
      protocols: ['map', 'user-pgtable'],
      nesting: reg(ecap, ECAP_NEST) ? 'hardware' : 'software',
      pageSizes: slPageSizes(cap),
      permittedRanges: [
        { start: 0n, last: 0xfedfffffn },
        { start: 0xfef00000n, last: (1n << BigInt(aw)) - 1n },
      ],
      formats,
      pasidTableFormats: [],
      pasidBits: pasidBits(ecap),
      coherent: reg(ecap, ECAP_C) === 1,
      enqcmd: dev.enqcmd && reg(ecap, ECAP_PASID) === 1,
      pageRequest: dev.pri && reg(ecap, ECAP_PRS) === 1,
      ats: dev.ats && reg(ecap, ECAP_DT) === 1,
      // Every device here attaches 'map' IOASIDs as second-stage tables: ECAP.SSADS (with SLTS) decides.
      dirtyTracking: reg(ecap, ECAP_SLADS) === 1 && reg(ecap, ECAP_SLTS) === 1,
    };
  }

  firstLevelFormat(levels: FirstLevelLevels): FirstLevelFormat {
    return this.flFormats.get(levels)!;
  }

  /** Validates a bindable first-level format object; returns its level count. */
  checkFirstLevelFormat(format: PgtableFormat, what: string): FirstLevelLevels {
    if (!format || typeof format !== 'object') fail('EINVAL', `${what} must be a format object`);
    if (format.kind !== 'vtd-first-level') fail('EINVAL', `${what}.kind must be 'vtd-first-level' (got ${String(format.kind)})`);
    const levels = format.levels;
    if (levels !== 4 && !(levels === 5 && reg(this.unit.cap, CAP_FL5LP))) {
      fail('EINVAL', `${what}.levels must be 4${reg(this.unit.cap, CAP_FL5LP) ? ' or 5' : ''} (got ${String(levels)})`);
    }
    return levels as FirstLevelLevels;
  }

  // ---- devices ----------------------------------------------------------------------------------

  probeDevice(dev: DeviceDesc): void {
    const { state, changed } = this.tables.probe(dev, { dt: reg(this.unit.ecap, ECAP_DT) === 1, prs: reg(this.unit.ecap, ECAP_PRS) === 1 });
    if (changed) {
      // A present context entry changed (VT-d 6.5.3.3): context cache, PASID cache, IOTLB and device-TLB.
      this.qi.submit(this.contextFlush(dev.rid));
      for (const r of this.routes.values()) if (r.rid === dev.rid) for (const d of r.stack) for (const a of d.attachments) if (a.rid === dev.rid) a.ats = state.dte;
    }
  }

  releaseDevice(dev: DeviceDesc): void {
    if (this.tables.release(dev)) this.qi.submit(this.contextFlush(dev.rid));
  }

  private contextFlush(rid: number): InvDesc[] {
    return [
      { type: 'cc', gran: 3, did: 0, sid: rid, fm: 0 },
      { type: 'pc', gran: PC_GLOBAL, did: 0, pasid: 0 },
      { type: 'iotlb', gran: IOTLB_GLOBAL, did: 0, addr: 0n, am: 0, ih: false, dr: true, dw: true },
      devTlbFlush({ rid, pasid: 0, ridLevel: true, ats: true }, null),
      { ...(devTlbFlush({ rid, pasid: 0, ridLevel: false, ats: true }, null) as Extract<InvDesc, { type: 'dev-piotlb' }>), g: true },
    ];
  }

  private ensureProbed(dev: DeviceDesc): void {
    if (!this.tables.rid(dev.rid)?.devices.has(dev.name)) this.probeDevice(dev);
  }

  // ---- domains ----------------------------------------------------------------------------------

  createDomain(req: DomainRequest): VtdDomain {
    if (req.protocol === 'user-pasid-table') fail('EOPNOTSUPP', 'VT-d has no user-owned PASID table format: bind a first-level table per PASID instead');
    if (req.protocol === 'map') {
      if (req.parent) fail('EINVAL', 'a kernel-managed address space has no parent');
      const did = this.allocDid();
      try {
        return new VtdSecondLevelDomain(this, did);
      } catch (e) {
        this.freeDid(did);
        throw e;
      }
    }
    if (req.protocol !== 'user-pgtable') fail('EINVAL', `unknown protocol ${String(req.protocol)}`);
    const parent = req.parent;
    if (!(parent instanceof VtdSecondLevelDomain)) fail('EOPNOTSUPP', 'a VT-d first-level table is bound only as a nested child of a kernel-managed (second-level) parent');
    let levels: FirstLevelLevels | undefined;
    if (req.format && 'kind' in req.format) levels = this.checkFirstLevelFormat(req.format as PgtableFormat, 'format');
    return new VtdNestedDomain(this, this.allocDid(), parent, levels);
  }

  private allocDid(): number {
    return this.dids.alloc();
  }

  freeDid(did: number): void {
    this.dids.free(did);
  }

  // ---- routes: who owns the PASID entry of (RID, PASID) -----------------------------------------

  private static routeKey(rid: number, pasid: number): number {
    return rid * 0x100000 + pasid;
  }

  /** Null if `d` may take the route (dev, pasid), else why not. */
  checkRoute(d: RouteOwner, dev: DeviceDesc, pasid: number | undefined, replacing?: IommuDomain): string | null {
    const r = this.routes.get(VtdDriver.routeKey(dev.rid, pasid ?? 0));
    if (!r || r.stack.length === 0) return null;
    if (r.ridLevel !== (pasid === undefined)) return `PASID ${pasid ?? 0} of RID ${hex(dev.rid)} is in use`;
    const top = r.stack[r.stack.length - 1];
    if ((top as unknown) === replacing || (d instanceof VtdNestedDomain && top === d.parent)) return null;
    return `${pasid === undefined ? 'the RID' : `PASID ${pasid}`} of ${dev.name} is already attached to another address space`;
  }

  attachRoute(d: RouteOwner, a: DeviceAttachment): void {
    this.ensureProbed(a.dev);
    a.ats = this.tables.rid(a.rid)!.dte;
    // Allocate the PASID table first: nothing has changed if that fails.
    this.tables.pasidEntryAddr(a.rid, a.pasid, true);
    const key = VtdDriver.routeKey(a.rid, a.pasid);
    let r = this.routes.get(key);
    if (!r) this.routes.set(key, (r = { rid: a.rid, pasid: a.pasid, ridLevel: a.ridLevel, stack: [] }));
    r.stack.push(d);
    this.program(r, a);
  }

  detachRoute(d: RouteOwner, a: Attachment): void {
    const key = VtdDriver.routeKey(a.rid, a.pasid);
    const r = this.routes.get(key);
    if (!r) return;
    const i = r.stack.lastIndexOf(d);
    if (i < 0) return;
    const wasTop = i === r.stack.length - 1;
    r.stack.splice(i, 1);
    if (wasTop) this.program(r, a);
    if (r.stack.length === 0) this.routes.delete(key);
  }

  /** Rewrites the PASID entry of a route after its owner changed what it wants (BIND_PGTABLE). */
  reprogram(a: Attachment): void {
    const r = this.routes.get(VtdDriver.routeKey(a.rid, a.pasid));
    if (r) this.program(r, a);
  }

  /**
   * SSADE in the present PASID entry of a route (Linux intel_pasid_setup_dirty_tracking): only in
   * a second-stage-only or nested entry, and only if it changes; then the flushes VT-d's guidance
   * to software asks for (PASID-selective PASID cache, domain-selective IOTLB, device-TLB).
   */
  setSsade(a: Attachment, enable: boolean): void {
    const addr = this.tables.pasidEntryAddr(a.rid, a.pasid, false);
    if (addr === null) return;
    const q = readQwords(this.host, addr, PASID_ENTRY_QWORDS);
    const e = decodePasidEntry(q);
    if (!e.p || (e.pgtt !== PGTT_SL_ONLY && e.pgtt !== PGTT_NESTED) || e.slade === enable) return;
    setFieldBig(q, PE_SLADE, enable);
    writeQwords(this.host, addr, q);
    this.qi.submit(pasidEntryChangeFlush({ ...a, ats: this.tables.rid(a.rid)?.dte ?? false }, e.did, e.pgtt));
  }

  /** Writes the route's PASID entry from the domain on top of its stack, flushing what the old entry cached. */
  private program(r: Route, a: Attachment): void {
    const top = r.stack[r.stack.length - 1];
    const want = top ? top.pasidEntry() : null;
    const addr = this.tables.pasidEntryAddr(r.rid, r.pasid, want !== null);
    if (addr === null) return;
    const old = decodePasidEntry(readQwords(this.host, addr, PASID_ENTRY_QWORDS));
    writeQwords(this.host, addr, want ? encodePasidEntry(want) : new Array<bigint>(PASID_ENTRY_QWORDS).fill(0n));
    if (old.p) this.qi.submit(pasidEntryChangeFlush({ ...a, ats: this.tables.rid(r.rid)?.dte ?? false }, old.did, old.pgtt));
  }

  // ---- the hardware, and the interrupts it raises -----------------------------------------------

  /** The hardware's translation: the unit the driver probed (its interrupts reach the handlers below). */
  translate(req: DmaRequest): TranslateResult {
    return this.unit.translate(req);
  }

  /**
   * The fault interrupt handler (Linux dmar_fault): reads FSTS; if PPF, reads the FRCD registers
   * from FSTS.FRI on while F is set, decoding each (dma_frcd_type, dma_frcd_fault_reason,
   * dma_frcd_source_id, dma_frcd_page_addr, PASID) and writing F back to release it; then clears
   * PFO and PPF in FSTS.
   */
  serviceFaults(): void {
    const fsts = this.unit.read('FSTS_REG');
    if (!reg(fsts, FSTS_PPF)) return;
    const n = reg(this.unit.cap, CAP_NFR) + 1; // cap_num_fault_regs
    let i = reg(fsts, FSTS_FRI);
    for (let k = 0; k < n; k++) {
      const name = `FRCD_REG[${i}]`;
      const v = this.unit.read(name);
      const q = [v & ((1n << 64n) - 1n), v >> 64n];
      if (getFieldBig(q, FRCD_F) !== 1n) break;
      this.faultLog.push(decodeFrcd(q, i));
      this.unit.write(name, 1n << 127n); // DMA_FRCD_F: dword 3 bit 31
      i = (i + 1) % n;
    }
    this.unit.write('FSTS_REG', withField(withField(0n, FSTS_PFO, 1), FSTS_PPF, 1));
  }

  /** The page request interrupt (Linux prq_event_thread): reads the descriptors from PQH to PQT and moves PQH on. */
  private servicePageRequests(): void {
    const pqa = this.unit.read('PQA_REG');
    const base = Number(regBig(pqa, PQA_PQA) << 12n);
    const size = 4096 << reg(pqa, PQA_PQS);
    let head = Number(regBig(this.unit.read('PQH_REG'), PQH_PQH) << 5n);
    const tail = Number(regBig(this.unit.read('PQT_REG'), PQT_PQT) << 5n);
    // Each request reaches the fd as the DMA's fault record; the handler only consumes the queue.
    while (head !== tail) {
      decodePageRequest(readQwords(this.host, BigInt(base + head), PRQ_DESC_BYTES / 8));
      head = (head + PRQ_DESC_BYTES) % size;
    }
    this.unit.write('PQH_REG', withField(0n, PQH_PQH, head >> 5));
    this.unit.write('PRS_REG', withField(0n, PRS_PPR, 1));
  }

  /** PAGE_RESPONSE: a page group response descriptor through the invalidation queue (Linux intel_page_response). */
  pageResponse(dev: DeviceDesc, pasid: number, record: FaultRecord, code: PageResponseCode): void {
    const prgi = typeof record.prgi === 'number' ? record.prgi : 0;
    const hasPasid = record.pasid !== undefined;
    this.qi.submit([
      {
        type: 'pgrp-resp',
        rid: dev.rid,
        pasid: hasPasid ? pasid : 0,
        pasidPresent: hasPasid,
        pdp: false,
        code: code === 'success' ? RESP_SUCCESS : code === 'invalid' ? RESP_INVALID : RESP_FAILURE,
        lpig: true,
        prgi,
      },
    ]);
  }
}

/** One FRCD register ([bits 63:0, bits 127:64]) as the fault record the handler logs. */
function decodeFrcd(q: bigint[], i: number): FaultRecord {
  const code = Number(getFieldBig(q, FRCD_FR));
  const r: FaultRecord = {
    rid: Number(getFieldBig(q, FRCD_SID)),
    iova: getFieldBig(q, FRCD_FI) << 12n,
    write: getFieldBig(q, FRCD_T) === 0n,
    code,
    name: faultName(code) ?? `FR_0x${code.toString(16)}`,
    frcd: i,
  };
  // As dmar_fault_do_one prints the reason string dmar_get_fault_reason finds for the code.
  const explain = faultMeaning(code);
  if (explain !== undefined) r.explain = explain;
  if (getFieldBig(q, FRCD_PP) === 1n) r.pasid = Number(getFieldBig(q, FRCD_PV));
  return r;
}
