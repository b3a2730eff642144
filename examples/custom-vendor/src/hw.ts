import { toFrame, type DmaRequest, type FaultRecord, type HostMemory, type IommuUnit, type TranslateResult } from '@ioasid/core';
import { FLAT_ADDR_HI, FLAT_D, FLAT_R, FLAT_RSVD_HI, FLAT_V, FLAT_W, S1_MAX_INPUT_BITS, S1_MIN_INPUT_BITS, S2_INPUT_BITS } from './format.js';
import {
  CTX_ENTRY_BYTES,
  GUEST_PASID_ENTRY_BYTES,
  HOST_PASID_ENTRY_BYTES,
  TT_BLOCKED,
  TT_NESTED,
  TT_S2,
  bytesToQwords,
  decodeContext,
  decodeGuestPasidEntry,
  decodeHostPasidEntry,
  type ContextEntry,
  type TranslationEntry,
} from './tables.js';

/**
 * The hardware side of the flat IOMMU. It reads only its registers and raw memory (context
 * table, PASID tables, flat tables), and keeps three caches that only a write of INV_CMD clears:
 * a context cache (per RID), a PASID cache (per RID + PASID) and an IOTLB (per DID + PASID + page).
 *
 * Registers (64-bit):
 *   CAP        RO  bits 7:0 stage-2 input bits; 15:8 stage-1 max input bits (0 = no nesting);
 *                  20:16 PASID bits; bit 24 PRI (page requests); bit 25 PTB (guest PASID
 *                  tables); bit 26 ENQ (ENQCMD-tagged requests); bit 27 DL (dirty logging:
 *                  DT in context / PASID entries, D set in stage-2 leaves on writes)
 *   CTX_BASE   RW  bits 51:12 context table address; bit 0 EN (translation enabled)
 *   INV_ADDR   RW  bits 63:12 first page; bits 5:0 log2 of the page count (IOTLB_PAGES)
 *   INV_CMD    WO  bits 3:0 type; 19:4 RID or DID; bit 20 PV (PASID valid); 40:21 PASID
 *                  types: 1 GLOBAL, 2 CONTEXT(RID), 3 PASID_CACHE(RID[, PASID]),
 *                         4 IOTLB_DOMAIN(DID[, PASID]), 5 IOTLB_PAGES(DID[, PASID], INV_ADDR)
 *   FAULT_COUNT RO number of faults reported
 */
export type FlatRegName = 'CAP' | 'CTX_BASE' | 'INV_ADDR' | 'INV_CMD' | 'FAULT_COUNT';

export const INV_GLOBAL = 1;
export const INV_CONTEXT = 2;
export const INV_PASID_CACHE = 3;
export const INV_IOTLB_DOMAIN = 4;
export const INV_IOTLB_PAGES = 5;

export const CAP_PRI = 1n << 24n;
export const CAP_PTB = 1n << 25n;
export const CAP_ENQ = 1n << 26n;
export const CAP_DL = 1n << 27n;

/** Fault reasons (the record's `code`) and their names. */
export const FAULT = {
  CTX_DISABLED: 1,
  CTX_NOT_PRESENT: 2,
  CTX_INVALID: 3,
  BLOCKED: 4,
  PASID_DISABLED: 5,
  PASID_RANGE: 6,
  PASID_NOT_PRESENT: 7,
  PASID_RSVD: 8,
  S1_RANGE: 9,
  S1_NOT_PRESENT: 10,
  S1_RSVD: 11,
  S1_PERMISSION: 12,
  S2_RANGE: 13,
  S2_NOT_PRESENT: 14,
  S2_RSVD: 15,
  S2_PERMISSION: 16,
} as const;
export type FaultName = keyof typeof FAULT;

export interface CapFields {
  s2Bits: number;
  s1MaxBits: number;
  pasidBits: number;
  pri: boolean;
  pasidTables: boolean;
  enqcmd: boolean;
  /** DL: the unit can log DMA writes (dirty tracking). */
  dirty: boolean;
}

export function encodeCap(c: CapFields): bigint {
  return (
    BigInt(c.s2Bits) |
    (BigInt(c.s1MaxBits) << 8n) |
    (BigInt(c.pasidBits) << 16n) |
    (c.pri ? CAP_PRI : 0n) |
    (c.pasidTables ? CAP_PTB : 0n) |
    (c.enqcmd ? CAP_ENQ : 0n) |
    (c.dirty ? CAP_DL : 0n)
  );
}

export function decodeCap(cap: bigint): CapFields {
  return {
    s2Bits: Number(cap & 0xffn),
    s1MaxBits: Number((cap >> 8n) & 0xffn),
    pasidBits: Number((cap >> 16n) & 0x1fn),
    pri: (cap & CAP_PRI) !== 0n,
    pasidTables: (cap & CAP_PTB) !== 0n,
    enqcmd: (cap & CAP_ENQ) !== 0n,
    dirty: (cap & CAP_DL) !== 0n,
  };
}

export function invCommand(type: number, id: number, pasid?: number): bigint {
  return BigInt(type) | (BigInt(id & 0xffff) << 4n) | (pasid !== undefined ? (1n << 20n) | (BigInt(pasid) << 21n) : 0n);
}

interface TlbEntry {
  frame: number;
  perms: number;
  /** Permissions stage 1 granted (nested only; 3 otherwise), to name the faulting stage. */
  s1perms: number;
  /** D was set in the stage-2 leaf when this entry was filled: a logged write may skip the walk. */
  dirty: boolean;
}

/** A walk's result: the translation, plus where its stage-2 leaf is and whether D was set there. */
type Walk = { frame: number; perms: number; s1perms: number; leafPa: number; dirty: boolean } | FaultRecord;

const READ = 1;
const WRITE = 2;

/**
 * The unit the driver probes (core's IommuUnit): MMIO by register name, a side-effect-free
 * register snapshot, and translate, to which the bus sends every DMA.
 */
export class FlatHardware implements IommuUnit {
  private readonly regs = new Map<string, bigint>();
  private readonly ctxCache = new Map<number, ContextEntry>();
  private readonly pasidCache = new Map<number, TranslationEntry>();
  /** IOTLB: DID → ((PASID + 1) · 2^20 + input frame) → entry. */
  private readonly iotlb = new Map<number, Map<number, TlbEntry>>();
  private faults = 0;
  private readonly cap: CapFields;

  constructor(
    private readonly mem: HostMemory,
    cap: bigint,
  ) {
    this.cap = decodeCap(cap);
    this.regs.set('CAP', cap);
    this.regs.set('CTX_BASE', 0n);
    this.regs.set('INV_ADDR', 0n);
    this.regs.set('INV_CMD', 0n);
  }

  /** A snapshot of the registers (no side effect: reading never clears a cache). */
  registers(): Record<string, bigint> {
    return { ...Object.fromEntries(this.regs), FAULT_COUNT: BigInt(this.faults) };
  }

  /** MMIO read of one register by name. */
  read(reg: FlatRegName): bigint {
    if (reg === 'FAULT_COUNT') return BigInt(this.faults);
    return this.regs.get(reg) ?? 0n;
  }

  /** MMIO write of one register by name. Writing INV_CMD performs the invalidation; CAP and FAULT_COUNT are read-only. */
  write(reg: FlatRegName, value: bigint): void {
    if (reg === 'CAP' || reg === 'FAULT_COUNT') return;
    this.regs.set(reg, value);
    if (reg === 'CTX_BASE') this.invalidate(BigInt(INV_GLOBAL));
    if (reg === 'INV_CMD') this.invalidate(value);
  }

  private invalidate(cmd: bigint): void {
    const type = Number(cmd & 0xfn);
    const id = Number((cmd >> 4n) & 0xffffn);
    const pv = (cmd & (1n << 20n)) !== 0n;
    const pasid = Number((cmd >> 21n) & 0xfffffn);
    switch (type) {
      case INV_GLOBAL:
        this.ctxCache.clear();
        this.pasidCache.clear();
        this.iotlb.clear();
        return;
      case INV_CONTEXT:
        this.ctxCache.delete(id);
        this.dropPasids(id, undefined);
        return;
      case INV_PASID_CACHE:
        this.dropPasids(id, pv ? pasid : undefined);
        return;
      case INV_IOTLB_DOMAIN:
      case INV_IOTLB_PAGES: {
        const tlb = this.iotlb.get(id);
        if (!tlb) return;
        if (type === INV_IOTLB_DOMAIN && !pv) {
          this.iotlb.delete(id);
          return;
        }
        let lo = 0;
        let hi = Infinity;
        if (type === INV_IOTLB_PAGES) {
          const a = this.regs.get('INV_ADDR')!;
          const count = 2 ** Number(a & 0x3fn);
          lo = Number(a >> 12n);
          lo -= lo % count;
          hi = lo + count;
        }
        for (const key of tlb.keys()) {
          const frame = key % 2 ** 20;
          const p = Math.floor(key / 2 ** 20) - 1;
          if (frame >= lo && frame < hi && (!pv || p === pasid)) tlb.delete(key);
        }
        return;
      }
      default:
        return; // unknown command types are ignored, as a write to a reserved encoding
    }
  }

  private dropPasids(rid: number, pasid: number | undefined): void {
    if (pasid !== undefined) {
      this.pasidCache.delete(rid * 2 ** 20 + pasid);
      return;
    }
    for (const key of [...this.pasidCache.keys()]) if (Math.floor(key / 2 ** 20) === rid) this.pasidCache.delete(key);
  }

  // ---- the walker ------------------------------------------------------------------------------

  private qwords(pa: number, n: number): bigint[] {
    return bytesToQwords(this.mem.read(pa, n * 8));
  }

  /** One DMA through the unit: reads only the registers, raw memory and the caches. */
  translate(req: DmaRequest): TranslateResult {
    const { rid, pasid, iovaFrame, write } = req;
    const fault = (name: FaultName, extra: Record<string, unknown> = {}): FaultRecord => {
      this.faults++;
      return { rid, pasid: pasid < 0 ? undefined : pasid, iova: BigInt(iovaFrame) * 4096n, write, code: FAULT[name], name, ...extra };
    };

    // Context entry (cached per RID).
    let ctx = this.ctxCache.get(rid);
    if (!ctx) {
      const base = this.regs.get('CTX_BASE')!;
      if ((base & 1n) === 0n) return fault('CTX_DISABLED');
      const decoded = decodeContext(this.qwords(Number(base & ~0xfffn) + rid * CTX_ENTRY_BYTES, 4));
      if (!decoded) return fault('CTX_INVALID');
      if (!decoded.valid) return fault('CTX_NOT_PRESENT');
      if (decoded.dt && !this.cap.dirty) return fault('CTX_INVALID'); // DT is reserved without CAP.DL
      ctx = decoded;
      this.ctxCache.set(rid, ctx);
    }

    // The translation context: the RID's own, or a PASID entry (cached per RID + PASID).
    let ent: TranslationEntry;
    if (pasid < 0) {
      ent = ctx;
    } else {
      if (!ctx.ptValid) return fault('PASID_DISABLED');
      if (pasid >= 2 ** ctx.ptLog2) return fault('PASID_RANGE');
      const key = rid * 2 ** 20 + pasid;
      const cached = this.pasidCache.get(key);
      if (cached) {
        ent = cached;
      } else if (!ctx.ptGuest) {
        const e = decodeHostPasidEntry(this.qwords(ctx.ptRoot * 4096 + pasid * HOST_PASID_ENTRY_BYTES, 4));
        if (!e) return fault('PASID_RSVD');
        if (!e.valid) return fault('PASID_NOT_PRESENT');
        if (e.dt && !this.cap.dirty) return fault('PASID_RSVD');
        ent = e;
        this.pasidCache.set(key, ent);
      } else {
        // A guest-owned table: fetched through the context's stage 2.
        if (ctx.tt !== TT_S2) return fault('CTX_INVALID');
        const gpa = ctx.ptRoot * 4096 + pasid * GUEST_PASID_ENTRY_BYTES;
        const s2 = this.stage2(ctx.s2Root, Math.floor(gpa / 4096), fault, 'pasid-table');
        if ('code' in s2) return s2;
        const g = decodeGuestPasidEntry(this.qwords(s2.frame * 4096 + (gpa % 4096), 1)[0]);
        if (!g || (g.valid && (g.s1Bits < S1_MIN_INPUT_BITS || g.s1Bits > S1_MAX_INPUT_BITS))) return fault('PASID_RSVD');
        if (!g.valid) return fault('PASID_NOT_PRESENT', { pageRequest: false });
        ent = { valid: true, tt: TT_NESTED, s2Root: ctx.s2Root, s1Valid: true, s1Bits: g.s1Bits, s1Root: g.s1Root, did: ctx.pasidDid, dt: ctx.dt };
        this.pasidCache.set(key, ent);
      }
    }
    if (ent.tt === TT_BLOCKED) return fault('BLOCKED');

    // IOTLB, then the walk. A write the route logs (DT) walks unless the IOTLB entry says D is
    // already set in memory: a cached translation never lets a logged write go unrecorded.
    const logs = write && ent.dt;
    const tlbKey = (pasid + 1) * 2 ** 20 + iovaFrame;
    let tlb = this.iotlb.get(ent.did);
    let hit = tlb?.get(tlbKey);
    if (!hit || (logs && !hit.dirty)) {
      const w = ent.tt === TT_NESTED ? this.nested(ent, iovaFrame, fault) : this.stage2(ent.s2Root, iovaFrame, fault, undefined);
      if ('code' in w) return w;
      const dirty = w.dirty || (logs && (w.perms & WRITE) !== 0 && this.setDirty(w.leafPa));
      hit = { frame: w.frame, perms: w.perms, s1perms: w.s1perms, dirty };
      if (!tlb) this.iotlb.set(ent.did, (tlb = new Map()));
      tlb.set(tlbKey, hit);
    }
    const need = write ? WRITE : READ;
    if ((hit.perms & need) === 0) {
      return (hit.s1perms & need) === 0 ? fault('S1_PERMISSION', { pageRequest: this.cap.pri }) : fault('S2_PERMISSION');
    }
    return hit.frame;
  }

  /**
   * Sets D in the stage-2 leaf at `pa` — the entry the walk just read, in memory, leaving every
   * other bit as it is there — and says it did.
   */
  private setDirty(pa: number): true {
    const frame = Math.floor(pa / 4096);
    const words = this.mem.wordsForWrite(frame);
    const i = this.mem.wordBase(frame) + (pa % 4096) / 4;
    words[i] = (words[i] | FLAT_D) >>> 0;
    return true;
  }

  /** Stage 2: input frame → host frame, reading the kernel's flat table. */
  private stage2(
    root: number,
    frame: number,
    fault: (name: FaultName, extra?: Record<string, unknown>) => FaultRecord,
    fetch: string | undefined,
  ): Walk {
    const extra = fetch ? { stage: 2, fetch } : { stage: 2 };
    if (frame >= 2 ** (S2_INPUT_BITS - 12)) return fault('S2_RANGE', extra);
    const pa = root * 4096 + frame * 8;
    const lo = this.mem.u32(pa);
    const hi = this.mem.u32(pa + 4);
    if ((lo & FLAT_V) === 0) return fault('S2_NOT_PRESENT', extra);
    if ((hi & FLAT_RSVD_HI) !== 0) return fault('S2_RSVD', extra);
    const perms = ((lo & FLAT_R) !== 0 ? READ : 0) | ((lo & FLAT_W) !== 0 ? WRITE : 0);
    if (fetch && (perms & READ) === 0) return fault('S2_PERMISSION', extra);
    return { frame: toFrame(lo & 0xfffff000, hi & FLAT_ADDR_HI), perms, s1perms: READ | WRITE, leafPa: pa, dirty: (lo & FLAT_D) !== 0 };
  }

  /** Stage 1 (the guest's flat table, read through stage 2), then stage 2 of its output. */
  private nested(ent: TranslationEntry, frame: number, fault: (name: FaultName, extra?: Record<string, unknown>) => FaultRecord): Walk {
    const pri = { stage: 1, pageRequest: this.cap.pri };
    if (!ent.s1Valid) return fault('S1_NOT_PRESENT', pri);
    if (ent.s1Bits < S1_MIN_INPUT_BITS || ent.s1Bits > S1_MAX_INPUT_BITS) return fault('CTX_INVALID');
    if (frame >= 2 ** (ent.s1Bits - 12)) return fault('S1_RANGE', { stage: 1 });
    const gpa = ent.s1Root * 4096 + frame * 8;
    const table = this.stage2(ent.s2Root, Math.floor(gpa / 4096), fault, 's1-table');
    if ('code' in table) return table;
    const pa = table.frame * 4096 + (gpa % 4096);
    const lo = this.mem.u32(pa);
    const hi = this.mem.u32(pa + 4);
    if ((lo & FLAT_V) === 0) return fault('S1_NOT_PRESENT', pri);
    if ((hi & FLAT_RSVD_HI) !== 0) return fault('S1_RSVD', { stage: 1 });
    const s1perms = ((lo & FLAT_R) !== 0 ? READ : 0) | ((lo & FLAT_W) !== 0 ? WRITE : 0);
    const out = this.stage2(ent.s2Root, toFrame(lo & 0xfffff000, hi & FLAT_ADDR_HI), fault, undefined);
    if ('code' in out) return out;
    // D goes in the stage-2 leaf of the output (the guest's stage-1 entry is never written).
    return { ...out, perms: out.perms & s1perms, s1perms };
  }
}
