import { fail, type DmaRequest, type HostMemory, type IommuUnit, type TranslateResult, type WalkTracer } from '@ioasid/core';
import { PGTT_FL_ONLY, PGTT_NESTED, PGTT_PT, PGTT_SL_ONLY } from '../tables/pasid-entry.js';
import { ContextCache, type ContextCacheEntry } from './context-cache.js';
import { DeviceTlb } from './device-tlb.js';
import { FR, isQualified, isRecoverable } from './fault-reasons.js';
import { faultRecord, type UnitFault } from './fault-record.js';
import { FaultRecording } from './fault-recording.js';
import { InvalidationQueue, type DeliveredResponse } from './inv-queue.js';
import { Iotlb, sizeIdxForShift, SIZE_FRAMES, SIZE_SHIFTS, TLB_CLEAN, TLB_R, TLB_U, TLB_W, tlbOutFrame, tlbPermits, type TlbEntry } from './iotlb.js';
import { PageRequestQueue } from './page-request-queue.js';
import { frcdIndex, READABLE } from './register-names.js';
import { PasidCache, type PasidCacheEntry } from './pasid-cache.js';
import { PhysBus } from './phys-bus.js';
import {
  buildCap, buildEcap, CAP_FL1GP, CAP_NFR, CAP_SLLPS, capMgaw, DEFAULT_UNIT_CONFIG, FECTL_IM, FSTS_IQE, GCMD_QIE, GCMD_SRTP, GCMD_TE, GSTS_QIES,
  GSTS_RTPS, GSTS_TES, ICS_IWC, RTADDR_RTA, RTADDR_TTM, reg, regBig, VTD_VERSION, withField, type UnitConfig,
} from './registers.js';
import { StructureReader } from './structure-reader.js';
import { IRQ_FIRST, IRQ_LAST, TRANSLATED_BEYOND_HAW, translatedFault } from './translated.js';
import { newWalkOut, STAGE_FIRST, STAGE_NAMES, STAGE_SECOND, Walker } from './walker.js';
import { VTD_HAW } from '../formats/pte-common.js';

export type { UnitFault } from './fault-record.js';

/** The read-only identification registers a unit is built with (a snapshot's, or a user's own). */
export interface UnitIdentity {
  cap: bigint;
  ecap: bigint;
  ver?: bigint;
}

/**
 * One DMA-remapping unit in scalable mode: registers, caches, the invalidation and page request
 * queues, fault recording, and the walk from requester ID to host page. It sees host memory and
 * its own state only.
 */
/** What cachedRoute returns for a request it leaves to walkRequest (a frame is ≥ 0, a fault an object). */
const NOT_HANDLED = -2;

export class VtdUnit implements IommuUnit {
  readonly ver: bigint;
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
  /**
   * How the translation path runs: translate() consults and fills the caches and records what it
   * meets; walk() (a debugger's look) sets a tracer, consults the caches only if asked and
   * changes nothing.
   */
  private tracer: WalkTracer | null = null;
  private consult = true;
  private commit = true;

  /** A unit with this model's identification registers for `cfg`, or with the given ones. */
  constructor(host: HostMemory, cfg: UnitConfig | UnitIdentity = DEFAULT_UNIT_CONFIG) {
    const id = 'cap' in cfg ? cfg : { cap: buildCap(cfg), ecap: buildEcap() };
    this.ver = id.ver ?? VTD_VERSION;
    this.cap = id.cap;
    this.ecap = id.ecap;
    this.bus = new PhysBus(host);
    this.structures = new StructureReader(this.bus, this.haw, this.cap, this.ecap);
    this.walker = new Walker(this.bus, this.haw, capMgaw(this.cap), reg(this.cap, CAP_SLLPS), reg(this.cap, CAP_FL1GP) === 1);
    this.faults = new FaultRecording(reg(this.cap, CAP_NFR) + 1);
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
      case 'VER_REG': return this.ver;
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

  /**
   * Takes over the values only the hardware writes (a unit rebuilt from a register snapshot,
   * standalone.ts): queue heads and tails it moves, the fault-recording registers and status,
   * ICS_REG. Nothing runs: descriptors between IQH and IQT wait for the next IQT write.
   */
  restoreHardwareState(s: { iqh?: bigint; iqt?: bigint; pqt?: bigint; prs?: bigint; ics?: bigint; fsts?: bigint; frcd: readonly bigint[] }): void {
    if (s.iqh !== undefined) this.iq.iqh = s.iqh;
    if (s.iqt !== undefined) this.iq.iqt = s.iqt;
    if (s.pqt !== undefined) this.prq.pqt = s.pqt;
    if (s.prs !== undefined) this.prq.prs = s.prs;
    if (s.ics !== undefined) this.ics = withField(0n, ICS_IWC, reg(s.ics, ICS_IWC));
    this.faults.restore(s.frcd, s.fsts ?? 0n);
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
    const c = this.consult ? this.cachedRoute(req) : NOT_HANDLED;
    const r = c === NOT_HANDLED ? this.walkRequest(req) : c;
    if (typeof r === 'number' || !r.pageRequest) return r;
    this.interrupts.pageRequest?.();
    const { frcd: _f, ...rec } = r;
    return rec;
  }

  /**
   * The walk translate() makes for `req`, every structure read recorded into `tracer`, with no
   * side effect: no cache filled or touched, no fault recorded, no page request queued, no A/D
   * bit written, no interrupt. With `caches`, the device-TLB, context cache, PASID cache and
   * IOTLB are probed first as the DMA would, and a hit ends the walk with what it holds.
   */
  walk(req: DmaRequest, tracer: WalkTracer, options: { caches?: boolean } = {}): TranslateResult {
    this.tracer = this.walker.tracer = tracer;
    this.walker.dryRun = true;
    this.consult = options.caches === true;
    this.commit = false;
    let r: TranslateResult;
    try {
      r = this.walkRequest(req);
    } finally {
      this.tracer = this.walker.tracer = null;
      this.walker.dryRun = false;
      this.consult = this.commit = true;
    }
    if (typeof r === 'number') return r;
    const { frcd: _f, ...rec } = r as UnitFault;
    return rec;
  }

  /**
   * walkRequest for the common DMA on its own, small enough to be compiled into the caller: a
   * request without PASID, from a device whose context and RID_PASID entries are cached. An
   * IOTLB hit gives its frame, a miss goes on to the walk; NOT_HANDLED for anything else (the
   * look-ups it made change nothing, so walkRequest then takes the request from the start).
   */
  private cachedRoute(req: DmaRequest): TranslateResult {
    if (req.pasid >= 0 || !this.te || req.translated === true || !this.devTlb.empty) return NOT_HANDLED;
    const ctx = this.contextCache.get(req.rid);
    if (ctx === undefined) return NOT_HANDLED;
    const pasid = ctx.ridPasid;
    const privileged = ctx.ridPriv;
    const pe = this.pasidCache.get(req.rid, pasid);
    if (pe === undefined || (privileged && pe.fl !== null && !pe.sre)) return NOT_HANDLED;
    const f = this.iotlb.translate(pe.did, pasid, req.iovaFrame, req.write, privileged);
    if (f >= 0) return f >= IRQ_FIRST && f <= IRQ_LAST ? NOT_HANDLED : f;
    return this.miss(req, ctx, pe, pasid, privileged, ctx.fpd || pe.fpd);
  }

  private walkRequest(req: DmaRequest): TranslateResult {
    if (!this.te) return req.iovaFrame;
    if (req.translated === true) return this.translatedRequest(req);
    const rid = req.rid;
    const frame = req.iovaFrame;
    const hasPasid = req.pasid >= 0;
    const consult = this.consult;
    const tracer = this.tracer;
    if (consult && !this.devTlb.empty) {
      const e = this.devTlb.lookup(rid, req.pasid, frame);
      const hit = e !== undefined && tlbPermits(e, req.write, req.privileged && hasPasid);
      if (tracer !== null && this.devTlb.holds(rid)) this.traceCached(tracer, 'device-TLB', hit ? e : undefined);
      if (hit) return tlbOutFrame(e, frame);
    }
    const ctx = this.contextOf(req);
    if (typeof ctx === 'number') return this.fault(req, ctx, false);
    if (hasPasid && !ctx.paside) return this.fault(req, FR.SM_PASIDE_ABS, ctx.fpd, { stage: 'context' });
    const pasid = hasPasid ? req.pasid : ctx.ridPasid;
    const privileged = hasPasid ? req.privileged : ctx.ridPriv;
    let pe = consult ? (this.commit ? this.pasidCache.get(rid, pasid) : this.pasidCache.peek(rid, pasid)) : undefined;
    if (consult && tracer !== null) tracer.probe('PASID cache', pe !== undefined);
    if (pe === undefined) {
      const p = this.structures.pasidEntry(ctx, pasid, hasPasid, tracer, privileged);
      if ('code' in p) return this.fault(req, p.code, ctx.fpd || p.fpd, { stage: p.code < FR.PASID_DIR_ACCESS_ERR ? 'context' : 'pasid-table' });
      pe = p;
      if (this.commit) this.pasidCache.fill(rid, pasid, pe);
    }
    const fpd = ctx.fpd || pe.fpd;
    const firstLevel = pe.fl !== null;
    if (privileged && firstLevel && !pe.sre) return this.fault(req, FR.SM_SRE_ABS, fpd, { stage: 'pasid-table' });
    if (consult) {
      const f = this.iotlb.translate(pe.did, pasid, frame, req.write, privileged);
      if (tracer !== null) {
        const slot = this.iotlb.lookup(pe.did, pasid, frame, tracer);
        this.traceCached(tracer, 'IOTLB', f >= 0 ? this.iotlb.entry(slot) : undefined);
      }
      // Both comparisons run on every request (see Iotlb.translate).
      const irq = (f >= IRQ_FIRST ? 1 : 0) & (f <= IRQ_LAST ? 1 : 0);
      if (f >= 0) return irq ? this.fault(req, FR.SM_INTERRUPT_ADDR, fpd) : f;
    }
    return this.miss(req, ctx, pe, pasid, privileged, fpd);
  }

  /** The context entry of the request's RID: from the context cache, or read (and then cached). */
  private contextOf(req: DmaRequest): ContextCacheEntry | number {
    if (this.consult) {
      const c = this.commit ? this.contextCache.get(req.rid) : this.contextCache.peek(req.rid);
      if (this.tracer !== null) this.tracer.probe('context cache', c !== undefined);
      if (c !== undefined) return c;
    }
    const c = this.structures.context(this.rootTable, this.ttm, req.rid, this.tracer, req);
    if (this.commit && typeof c !== 'number') this.contextCache.fill(req.rid, c);
    return c;
  }

  /** A cache probe while tracing; a hit also names the permissions and page size it holds. */
  private traceCached(tracer: WalkTracer, cache: string, e: TlbEntry | undefined): void {
    tracer.probe(cache, e !== undefined);
    if (e) tracer.leaf({ read: e.read, write: e.write }, 1n << BigInt(SIZE_SHIFTS[e.sizeIdx]));
  }

  /**
   * A translated request (PCIe AT = translated): checked against its context entry, then passed
   * with its own address, untranslated (see translated.ts).
   */
  private translatedRequest(req: DmaRequest): TranslateResult {
    const ctx = this.contextOf(req);
    if (typeof ctx === 'number') return this.fault(req, ctx, false, { translated: true });
    const code = translatedFault(ctx, req, this.haw);
    if (code === 0) return req.iovaFrame;
    const extra: Record<string, unknown> = { translated: true };
    if (code === FR.SM_DTE_ABS || code === FR.SM_EPTR_ABS) extra.stage = 'context';
    if (code === FR.SM_ADDR_BEYOND_MGAW) extra.explain = TRANSLATED_BEYOND_HAW;
    return this.fault(req, code, ctx.fpd, extra);
  }

  /** An IOTLB miss: the page walk, then the IOTLB (and device-TLB) fill or a fault. */
  private miss(req: DmaRequest, ctx: ContextCacheEntry, pe: PasidCacheEntry, pasid: number, privileged: boolean, fpd: boolean): TranslateResult {
    const o = this.walkOut;
    o.dirty = true;
    let code: number;
    switch (pe.pgtt) {
      case PGTT_SL_ONLY:
        o.stage = STAGE_SECOND;
        code = this.walker.walkSecondLevel(pe.slRoot, pe.slLevels, req.iovaFrame, req.write, o, pe.ssade);
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
    if (this.tracer !== null) this.tracer.leaf({ read: o.read, write: o.write }, pe.pgtt === PGTT_PT ? undefined : 1n << BigInt(o.shift));
    if (o.frame >= IRQ_FIRST && o.frame <= IRQ_LAST) return this.fault(req, FR.SM_INTERRUPT_ADDR, fpd);
    if (!this.commit) return o.frame;
    const sizeIdx = sizeIdxForShift(o.shift);
    // A translation whose second-stage leaf is not yet dirty (SSADE) is cached so that a write misses on it.
    const perm = (o.read ? TLB_R : 0) | (o.write ? TLB_W : 0) | (o.user ? TLB_U : 0) | (o.dirty ? 0 : TLB_CLEAN);
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
    // The device gets write access only once the leaf is dirty (SSADE), so that its first write comes back to the unit.
    const e: TlbEntry = { frame: o.frame - (req.iovaFrame % n), sizeIdx, read: o.read, write: o.write && o.dirty, user: o.user, pgtt: pe.pgtt };
    this.devTlb.fill(req.rid, req.pasid, req.iovaFrame, e);
  }

  /** The fault record; recorded in FRCD unless FPD suppresses it or the unit only looks (walk). */
  private fault(req: DmaRequest, code: number, fpd: boolean, extra: Record<string, unknown> = {}): UnitFault {
    const suppressed = fpd && isQualified(code);
    const addr = BigInt(req.iovaFrame) << 12n;
    const frcd = suppressed || !this.commit ? -1 : this.faults.record({ sid: req.rid, reason: code, addr, write: req.write, pasid: req.pasid >= 0 ? req.pasid : undefined });
    const rec = faultRecord(req, code, frcd, extra);
    if (suppressed) rec.fpd = true;
    return rec;
  }

  /**
   * A recoverable first-level fault of a context with page requests enabled (PRE) goes to the page
   * request queue instead of the fault log; null if the queue cannot take it (then it is a fault).
   * A walk only says the request would be queued: it assigns no page request group index.
   */
  private pageRequest(req: DmaRequest, code: number, pasid: number, hasPasid: boolean, privileged: boolean, extra: Record<string, unknown>): UnitFault | null {
    const prgi = this.prgi;
    const page = {
      rid: req.rid,
      pasidPresent: hasPasid,
      pasid: hasPasid ? pasid : 0,
      privileged: hasPasid && privileged,
      read: !req.write,
      write: req.write,
      lpig: true,
      prgi,
      addr: BigInt(req.iovaFrame) << 12n,
    };
    if (!this.commit) return this.prq.hasRoom() ? faultRecord(req, code, -1, { ...extra, pageRequest: true }) : null;
    if (!this.prq.push(page)) return null;
    this.prgi = (this.prgi + 1) & 0x1ff;
    return faultRecord(req, code, -1, { ...extra, pageRequest: true, prgi });
  }
}
