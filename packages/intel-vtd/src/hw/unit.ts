import { fail, type DmaRequest, type FaultRecord, type HostMemory, type IommuUnit, type TranslateResult } from '@ioasid/core';
import { PGTT_FL_ONLY, PGTT_NESTED, PGTT_SL_ONLY } from '../tables/pasid-entry.js';
import { ContextCache, type ContextCacheEntry } from './context-cache.js';
import { DeviceTlb } from './device-tlb.js';
import { FR, faultMeaning, faultName, isQualified, isRecoverable } from './fault-reasons.js';
import { FaultRecording } from './fault-recording.js';
import { InvalidationQueue, type DeliveredResponse } from './inv-queue.js';
import { Iotlb, sizeIdxForShift, SIZE_FRAMES, TLB_R, TLB_U, TLB_W, type TlbEntry } from './iotlb.js';
import { PageRequestQueue } from './page-request-queue.js';
import { PasidCache, type PasidCacheEntry } from './pasid-cache.js';
import { PhysBus } from './phys-bus.js';
import {
  buildCap, buildEcap, CAP_FL1GP, CAP_SLLPS, capMgaw, DEFAULT_UNIT_CONFIG, FECTL_IM, FSTS_IQE, GCMD_QIE, GCMD_SRTP, GCMD_TE, GSTS_QIES,
  GSTS_RTPS, GSTS_TES, ICS_IWC, RTADDR_RTA, RTADDR_TTM, reg, regBig, withField, type UnitConfig,
} from './registers.js';
import { StructureReader } from './structure-reader.js';
import { newWalkOut, STAGE_FIRST, STAGE_NAMES, STAGE_SECOND, Walker } from './walker.js';
import { VTD_HAW } from '../formats/pte-common.js';

/** First and last frame of the interrupt address range 0xFEE00000–0xFEEFFFFF. */
const IRQ_FIRST = 0xfee00;
const IRQ_LAST = 0xfeeff;

/** What a translation produced, beyond the frame: for tests and the driver's page-request handling. */
export interface UnitFault extends FaultRecord {
  /** Index of the FRCD register that recorded it, -1 when not recorded (FPD, overflow, page request). */
  frcd: number;
}

/**
 * One DMA-remapping unit in scalable mode: registers, caches, the invalidation and page request
 * queues, fault recording, and the walk from requester ID to host page. It sees host memory and
 * its own state only.
 */
export class VtdUnit implements IommuUnit {
  readonly cap: bigint;
  readonly ecap: bigint;
  readonly haw = VTD_HAW;
  readonly bus: PhysBus;
  readonly walker: Walker;
  readonly contextCache = new ContextCache();
  readonly pasidCache = new PasidCache();
  readonly iotlb = new Iotlb();
  readonly devTlb = new DeviceTlb();
  private readonly faults: FaultRecording;
  readonly prq: PageRequestQueue;
  readonly iq: InvalidationQueue;
  /** The unit's interrupt messages (fault event, page request event), as the driver sets them up. */
  readonly interrupts: { fault?: () => void; pageRequest?: () => void } = {};
  /** Page-group responses delivered to devices. */
  readonly responses: DeliveredResponse[] = [];
  private gsts = 0n;
  /** GSTS.TES, kept as a boolean for the translation path. */
  private te = false;
  private rtaddr = 0n;
  /** Root table address latched by the last SRTP command. */
  private rootTable = 0;
  private ttm = 0;
  private ics = 0n;
  private fectl = 0n;
  private prgi = 0;
  private readonly structures: StructureReader;
  private readonly walkOut = newWalkOut();

  constructor(host: HostMemory, cfg: UnitConfig = DEFAULT_UNIT_CONFIG) {
    this.cap = buildCap(cfg);
    this.ecap = buildEcap();
    this.bus = new PhysBus(host);
    this.structures = new StructureReader(this.bus, this.haw, this.cap, this.ecap);
    this.walker = new Walker(this.bus, this.haw, capMgaw(this.cap), reg(this.cap, CAP_SLLPS), reg(this.cap, CAP_FL1GP) === 1);
    this.faults = new FaultRecording(cfg.faultRecords);
    this.prq = new PageRequestQueue(this.bus);
    this.iq = new InvalidationQueue(this.bus, {
      contextCache: this.contextCache,
      pasidCache: this.pasidCache,
      iotlb: this.iotlb,
      devTlb: this.devTlb,
      responses: this.responses,
      completion: () => (this.ics = withField(this.ics, ICS_IWC, 1)),
      queueError: () => this.faults.setStatus(FSTS_IQE),
      queueErrorPending: () => this.faults.hasStatus(FSTS_IQE),
    });
  }

  // ---- register interface (software side) ------------------------------------------------------

  /** Every readable register by name (no side effect: no VT-d register changes on a read). */
  registers(): Record<string, bigint> {
    const r: Record<string, bigint> = {};
    for (const name of READABLE) r[name] = this.read(name);
    for (let i = 0; i < this.faults.count; i++) r[`FRCD_REG[${i}]`] = this.faults.value(i);
    return r;
  }

  /** MMIO read of one register by its specification name (FRCD_REG[i] is the 128-bit register i). */
  read(name: string): bigint {
    const i = frcdIndex(name, this.faults.count);
    if (i !== null) return this.faults.value(i);
    switch (name) {
      case 'CAP_REG': return this.cap;
      case 'ECAP_REG': return this.ecap;
      case 'GSTS_REG': return this.gsts;
      case 'RTADDR_REG': return this.rtaddr;
      case 'FSTS_REG': return this.faults.fsts();
      case 'FECTL_REG': return this.fectl;
      case 'IQH_REG': return this.iq.iqh;
      case 'IQT_REG': return this.iq.iqt;
      case 'IQA_REG': return this.iq.iqa;
      case 'ICS_REG': return this.ics;
      case 'PQH_REG': return this.prq.pqh;
      case 'PQT_REG': return this.prq.pqt;
      case 'PQA_REG': return this.prq.pqa;
      case 'PRS_REG': return this.prq.prs;
    }
    return fail('EINVAL', `VT-d has no readable register ${name}`);
  }

  /**
   * MMIO write of one register by its specification name. GCMD_REG: SRTP latches RTADDR_REG, TE
   * enables translation, QIE the invalidation queue; IQT_REG rings the queue; FSTS_REG (PFO, IQE,
   * ICE, ITE, PRO), ICS_REG.IWC, PRS_REG (PPR, PRO) and FRCD_REG[i].F are write-1-to-clear.
   */
  write(name: string, v: bigint): void {
    const i = frcdIndex(name, this.faults.count);
    if (i !== null) {
      if ((v >> 127n) & 1n) this.faults.clear(i); // F (Linux writes DMA_FRCD_F to dword 3)
      return;
    }
    switch (name) {
      case 'RTADDR_REG': this.rtaddr = v; return;
      case 'GCMD_REG': this.writeGcmd(Number(BigInt.asUintN(32, v)) | 0); return;
      case 'IQA_REG': this.iq.writeIqa(v); return;
      case 'IQT_REG': this.iq.writeIqt(v); return;
      case 'FSTS_REG': this.writeFsts(v); return;
      case 'FECTL_REG': this.fectl = withField(0n, FECTL_IM, reg(v, FECTL_IM)); return;
      case 'ICS_REG': if (reg(v, ICS_IWC)) this.ics = withField(this.ics, ICS_IWC, 0); return;
      case 'PQA_REG':
        this.prq.pqa = v;
        this.prq.pqh = 0n;
        this.prq.pqt = 0n;
        return;
      case 'PQH_REG': this.prq.pqh = v; return;
      case 'PRS_REG': this.prq.writePrs(v); return;
    }
    fail('EINVAL', `VT-d has no writable register ${name}`);
  }

  /**
   * FSTS_REG: write-1-to-clear. Clearing IQE lets the unit fetch descriptors again, from the one
   * IQH points at up to the tail (VT-d §6.5.2.10).
   */
  private writeFsts(v: bigint): void {
    const iqe = this.faults.hasStatus(FSTS_IQE);
    this.faults.writeFsts(v);
    if (iqe && !this.faults.hasStatus(FSTS_IQE)) this.iq.run();
  }

  private writeGcmd(v: number): void {
    if (v & GCMD_SRTP) {
      this.rootTable = Number(regBig(this.rtaddr, RTADDR_RTA) << 12n);
      this.ttm = reg(this.rtaddr, RTADDR_TTM);
      this.gsts = withField(this.gsts, GSTS_RTPS, 1);
    }
    const qie = (v & GCMD_QIE) !== 0;
    if (qie && !this.iq.enabled) this.iq.iqh = 0n;
    this.iq.enabled = qie;
    this.gsts = withField(this.gsts, GSTS_QIES, qie);
    this.te = (v & GCMD_TE) !== 0;
    this.gsts = withField(this.gsts, GSTS_TES, this.te);
  }

  get translationEnabled(): boolean {
    return this.te;
  }

  // ---- the hardware walk ------------------------------------------------------------------------

  /**
   * Translates one request: the host frame of the 4 KiB page, or a fault record (also logged in
   * FRCD). The fault event of earlier requests (FSTS.PPF, FECTL.IM clear) has been delivered by
   * the time a device issues this one; a page request raises the page request event at once.
   */
  translate(req: DmaRequest): TranslateResult {
    if (this.faults.pendingCount !== 0 && this.interrupts.fault && !reg(this.fectl, FECTL_IM)) this.interrupts.fault();
    const r = this.walkRequest(req);
    if (typeof r === 'number' || !r.pageRequest) return r;
    this.interrupts.pageRequest?.();
    const { frcd: _f, ...rec } = r;
    return rec;
  }

  private walkRequest(req: DmaRequest): TranslateResult {
    if (!this.te) return req.iovaFrame;
    const rid = req.rid;
    const frame = req.iovaFrame;
    const hasPasid = req.pasid >= 0;
    if (!this.devTlb.empty) {
      const e = this.devTlb.lookup(rid, req.pasid, frame);
      if (e && permits(e, req.write, req.privileged && hasPasid)) return outFrame(e, frame);
    }
    let ctx = this.contextCache.get(rid);
    if (ctx === undefined) {
      const c = this.structures.context(this.rootTable, this.ttm, rid);
      if (typeof c === 'number') return this.fault(req, c, false);
      ctx = c;
      this.contextCache.fill(rid, ctx);
    }
    if (hasPasid && !ctx.paside) return this.fault(req, FR.SM_PASIDE_ABS, ctx.fpd, { stage: 'context' });
    const pasid = hasPasid ? req.pasid : ctx.ridPasid;
    const privileged = hasPasid ? req.privileged : ctx.ridPriv;
    let pe = this.pasidCache.get(rid, pasid);
    if (pe === undefined) {
      const p = this.structures.pasidEntry(ctx, pasid, hasPasid);
      if ('code' in p) return this.fault(req, p.code, ctx.fpd || p.fpd, { stage: p.code < FR.PASID_DIR_ACCESS_ERR ? 'context' : 'pasid-table' });
      pe = p;
      this.pasidCache.fill(rid, pasid, pe);
    }
    const fpd = ctx.fpd || pe.fpd;
    const firstLevel = pe.fl !== null;
    if (privileged && firstLevel && !pe.sre) return this.fault(req, FR.SM_SRE_ABS, fpd, { stage: 'pasid-table' });
    const f = this.iotlb.translate(pe.did, pasid, frame, req.write, privileged);
    // Both comparisons run on every request (see Iotlb.translate).
    const irq = (f >= IRQ_FIRST ? 1 : 0) & (f <= IRQ_LAST ? 1 : 0);
    if (f >= 0) return irq ? this.fault(req, FR.SM_INTERRUPT_ADDR, fpd) : f;
    return this.miss(req, ctx, pe, pasid, privileged, fpd);
  }

  /** An IOTLB miss: the page walk, then the IOTLB (and device-TLB) fill or a fault. */
  private miss(req: DmaRequest, ctx: ContextCacheEntry, pe: PasidCacheEntry, pasid: number, privileged: boolean, fpd: boolean): TranslateResult {
    const o = this.walkOut;
    let code: number;
    switch (pe.pgtt) {
      case PGTT_SL_ONLY:
        o.stage = STAGE_SECOND;
        code = this.walker.walkSecondLevel(pe.slRoot, pe.slLevels, req.iovaFrame, req.write, o);
        break;
      case PGTT_FL_ONLY:
      case PGTT_NESTED:
        code = this.walker.walkFirstLevel(pe.fl!, req.iovaFrame, req.write, privileged, o, true);
        break;
      default: // pass-through
        o.frame = req.iovaFrame;
        o.shift = 12;
        o.read = o.write = o.user = true;
        code = 0;
    }
    if (code) return this.walkFault(req, ctx, pasid, privileged, fpd, code);
    if (o.frame >= IRQ_FIRST && o.frame <= IRQ_LAST) return this.fault(req, FR.SM_INTERRUPT_ADDR, fpd);
    const sizeIdx = sizeIdxForShift(o.shift);
    const perm = (o.read ? TLB_R : 0) | (o.write ? TLB_W : 0) | (o.user ? TLB_U : 0);
    this.iotlb.fill(pe.did, pasid, req.iovaFrame, sizeIdx, o.frame, perm, pe.pgtt);
    if (ctx.dte) this.fillDevTlb(req, pe, sizeIdx);
    return o.frame;
  }

  /** A walk that faulted (walkOut holds where): a page request, or a recorded fault. */
  private walkFault(req: DmaRequest, ctx: ContextCacheEntry, pasid: number, privileged: boolean, fpd: boolean, code: number): TranslateResult {
    const o = this.walkOut;
    const extra: Record<string, unknown> = { stage: STAGE_NAMES[o.stage], level: o.level + 1 };
    if (o.stage === STAGE_FIRST && ctx.pre && isRecoverable(code)) {
      const pr = this.pageRequest(req, code, pasid, req.pasid >= 0, privileged, extra);
      if (pr) return pr;
    }
    return this.fault(req, code, fpd, extra);
  }

  /** The device-TLB copy of the translation the walk just found (walkOut). */
  private fillDevTlb(req: DmaRequest, pe: PasidCacheEntry, sizeIdx: number): void {
    const o = this.walkOut;
    const n = SIZE_FRAMES[sizeIdx];
    const e: TlbEntry = { frame: o.frame - (req.iovaFrame % n), sizeIdx, read: o.read, write: o.write, user: o.user, pgtt: pe.pgtt };
    this.devTlb.fill(req.rid, req.pasid, req.iovaFrame, e);
  }

  private fault(req: DmaRequest, code: number, fpd: boolean, extra: Record<string, unknown> = {}): UnitFault {
    const iova = BigInt(req.iovaFrame) << 12n;
    const hasPasid = req.pasid >= 0;
    const suppressed = fpd && isQualified(code);
    const frcd = suppressed ? -1 : this.faults.record({ sid: req.rid, reason: code, addr: iova, write: req.write, pasid: hasPasid ? req.pasid : undefined });
    const rec: UnitFault = {
      rid: req.rid,
      iova,
      write: req.write,
      code,
      name: faultName(code) ?? `FR_0x${code.toString(16)}`,
      explain: faultMeaning(code),
      privileged: req.privileged,
      ...extra,
      frcd,
    };
    if (hasPasid) rec.pasid = req.pasid;
    if (suppressed) rec.fpd = true;
    return rec;
  }

  /**
   * A recoverable first-level fault of a context with page requests enabled (PRE) goes to the page
   * request queue instead of the fault log; null if the queue cannot take it (then it is a fault).
   */
  private pageRequest(req: DmaRequest, code: number, pasid: number, hasPasid: boolean, privileged: boolean, extra: Record<string, unknown>): UnitFault | null {
    const prgi = this.prgi;
    const ok = this.prq.push({
      rid: req.rid,
      pasidPresent: hasPasid,
      pasid: hasPasid ? pasid : 0,
      privileged: hasPasid && privileged,
      read: !req.write,
      write: req.write,
      lpig: true,
      prgi,
      addr: BigInt(req.iovaFrame) << 12n,
    });
    if (!ok) return null;
    this.prgi = (this.prgi + 1) & 0x1ff;
    const rec: UnitFault = {
      rid: req.rid,
      iova: BigInt(req.iovaFrame) << 12n,
      write: req.write,
      code,
      name: faultName(code)!,
      explain: faultMeaning(code),
      privileged: req.privileged,
      ...extra,
      pageRequest: true,
      prgi,
      frcd: -1,
    };
    if (hasPasid) rec.pasid = req.pasid;
    return rec;
  }
}

function permits(e: TlbEntry, write: boolean, privileged: boolean): boolean {
  return (write ? e.write : e.read) && (privileged || e.user);
}

function outFrame(e: TlbEntry, iovaFrame: number): number {
  return e.frame + (iovaFrame % SIZE_FRAMES[e.sizeIdx]);
}

/** The registers read() knows besides FRCD_REG[i], in the order registers() lists them. */
const READABLE = [
  'CAP_REG', 'ECAP_REG', 'GSTS_REG', 'RTADDR_REG', 'FSTS_REG', 'FECTL_REG', 'IQH_REG', 'IQT_REG', 'IQA_REG', 'ICS_REG',
  'PQH_REG', 'PQT_REG', 'PQA_REG', 'PRS_REG',
] as const;

/** The index i of 'FRCD_REG[i]', or null for any other name. */
function frcdIndex(name: string, count: number): number | null {
  const m = /^FRCD_REG\[(\d+)\]$/.exec(name);
  if (!m) return null;
  const i = Number(m[1]);
  if (i >= count) fail('EINVAL', `VT-d has ${count} fault recording registers (no ${name})`);
  return i;
}
