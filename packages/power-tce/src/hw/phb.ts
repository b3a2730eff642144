import {
  fieldMaskBig,
  getFieldBig,
  setFieldBig,
  type DmaRequest,
  type HostMemory,
  type IommuUnit,
  type TranslateResult,
  type WalkTracer,
} from '@ioasid/core';
import { decodeTve, TVE_SELECT_SHIFT } from '../tables/tve.js';
import {
  IODA3_TBL_PEEV,
  IODA3_TBL_PESTA,
  IODA3_TBL_PESTB,
  IODA3_TBL_TVT,
  PHB_IODA_ADDR,
  PHB_IODA_AD_AUTOINC,
  PHB_IODA_AD_TADR,
  PHB_IODA_AD_TSEL,
  PHB_IODA_DATA0,
  PHB_PHB4_EEH_CAP,
  PHB_PHB4_EEH_CAP_MAX_PES_SHIFT,
  PHB_RTC_INVALIDATE,
  PHB_RTC_INVALIDATE_ALL,
  PHB_RTC_INVALIDATE_RID,
  PHB_RTT_BAR,
  PHB_TCE_KILL,
  PHB_TCE_KILL_ALL,
  PHB_TCE_KILL_ONE,
  PHB_TCE_KILL_PE,
  PHB_TCE_KILL_PENUM,
  PHB_REGISTER_OFFSET,
  type PhbRegName,
} from './registers.js';
import { latchTve, type LatchedTve } from './latched-tve.js';
import { PeErrorState } from './pe-error-state.js';
import { PhbTrace } from './phb-trace.js';
import { RidTranslationCache } from './rid-cache.js';
import { TceCache } from './tce-cache.js';
import { decodeTceKill } from './tce-kill.js';
import { translateCached, translateDma, type PhbWalkState } from './walker.js';

const U64_MAX = (1n << 64n) - 1n;

function regOffset(name: PhbRegName): number {
  const offset = PHB_REGISTER_OFFSET[name];
  if (offset === undefined) throw new Error(`PHB4 has no register ${String(name)}`);
  return offset;
}

/** The latch of a zero TVT entry (mode TVE_FAULTS). */
const ZERO_TVE = latchTve(decodeTve(0n));
/** PHB_TCE_KILL: the kind bits (ALL, PE, ONE are IBM bits 0..2) as a number, and what survives the write. */
const TCE_KILL_KIND_SHIFT = 61n;
/** PENUM is IBM bits 55:63, the low bits: the fast path masks without shifting. */
const PENUM_MASK = fieldMaskBig(PHB_TCE_KILL_PENUM);
const KIND_ALL = Number(PHB_TCE_KILL_ALL >> TCE_KILL_KIND_SHIFT);
const KIND_PE = Number(PHB_TCE_KILL_PE >> TCE_KILL_KIND_SHIFT);
const TCE_KILL_KEPT = U64_MAX & ~(PHB_TCE_KILL_ALL | PHB_TCE_KILL_PE | PHB_TCE_KILL_ONE);

export interface Phb4Options {
  /** PEs the PHB implements; QEMU's "big" PHB4 (and skiboot's 512-PE mode) by default. */
  numPes?: number;
  /** Entries of the (direct-mapped) TCE cache, a power of two; TCE_CACHE_ENTRIES by default. */
  tceCacheEntries?: number;
}

/**
 * One PHB4 in IODA3 terms: its register file, the on-chip IODA tables (TVT, PESTA, PESTB, PEEV),
 * the RID translation cache and the TCE cache. Translation reads only these and host memory.
 */
export class Phb4 implements IommuUnit, PhbWalkState {
  readonly numPes: number;
  /** skiboot PHB4_RESERVED_PE_NUM: the PE# unmapped RIDs carry in the RTT. */
  readonly reservedPe: number;
  private readonly regs = new Map<number, bigint>();
  private readonly tvt: BigUint64Array;
  /** The TVT as the walker uses it: decoded (and latched) when an entry is written. */
  private readonly tves: LatchedTve[];
  private readonly errors: PeErrorState;
  /** PESTB DMA_STOPPED per PE, mirrored for the translation fast path. */
  readonly dmaStopped: Uint8Array;
  /** Per TVE, latched from the TVT and PESTB whenever either is written (PhbWalkState). */
  readonly dmaWindowFrames: Float64Array;
  readonly ioPageFrames: Int32Array;
  readonly tceCache: TceCache;
  readonly rtc = new RidTranslationCache();

  constructor(
    readonly mem: HostMemory,
    opts: Phb4Options = {},
  ) {
    this.numPes = opts.numPes ?? 512;
    this.reservedPe = this.numPes - 1;
    this.tvt = new BigUint64Array(this.numPes * 2);
    // Zero entries latch as a non-translating TVE, so the array holds one kind of element.
    this.tves = Array.from({ length: this.numPes * 2 }, () => ZERO_TVE);
    this.errors = new PeErrorState(this.numPes);
    this.dmaStopped = this.errors.dmaStopped;
    this.dmaWindowFrames = new Float64Array(this.numPes * 2);
    this.ioPageFrames = new Int32Array(this.numPes * 2);
    for (let pe = 0; pe < this.numPes; pe++) this.latchDmaWindows(pe);
    this.tceCache = new TceCache(this.numPes, opts.tceCacheEntries);
    this.regs.set(PHB_PHB4_EEH_CAP, BigInt(this.numPes) << PHB_PHB4_EEH_CAP_MAX_PES_SHIFT);
  }

  // ---- MMIO ------------------------------------------------------------------------------

  /** MMIO read by register name (PHB_IODA_DATA0 reads the IODA entry PHB_IODA_ADDR selects). */
  read(name: PhbRegName): bigint {
    const offset = regOffset(name);
    if (offset === PHB_IODA_DATA0) return this.iodaAccess(null);
    return this.regs.get(offset) ?? 0n;
  }

  /** MMIO write by register name, with the side effects the register has (kills, RTC invalidate, IODA). */
  write(name: PhbRegName, value: bigint): void {
    const offset = regOffset(name);
    if (value < 0n || value > U64_MAX) value = BigInt.asUintN(64, value);
    switch (offset) {
      case PHB_PHB4_EEH_CAP:
        return; // read-only
      case PHB_IODA_DATA0:
        this.iodaAccess(value);
        return;
      case PHB_RTC_INVALIDATE:
        if (value & PHB_RTC_INVALIDATE_ALL) this.rtc.invalidateAll();
        else this.rtc.invalidateRid(Number(getFieldBig(value, PHB_RTC_INVALIDATE_RID)));
        break;
      case PHB_TCE_KILL:
        this.tceKill(value);
        // The PHB clears the kind bits once the kill is queued (QEMU pnv_phb4_reg_write).
        value &= TCE_KILL_KEPT;
        break;
    }
    this.regs.set(offset, value);
  }

  /**
   * One access to the IODA table PHB_IODA_ADDR selects (write when `value` is given). The index
   * wraps at the table's size, as does the autoincrement (QEMU pnv_phb4_ioda_access); a table the
   * model does not implement reads 0 and leaves PHB_IODA_ADDR alone.
   */
  private iodaAccess(value: bigint | null): bigint {
    const adreg = this.regs.get(PHB_IODA_ADDR) ?? 0n;
    const table = Number(getFieldBig(adreg, PHB_IODA_AD_TSEL));
    let index = Number(getFieldBig(adreg, PHB_IODA_AD_TADR));
    let mask: number;
    let result: bigint;
    if (table === IODA3_TBL_TVT) {
      mask = this.tvt.length - 1;
      index &= mask;
      if (value !== null) {
        this.tvt[index] = value;
        this.tves[index] = value === 0n ? ZERO_TVE : latchTve(decodeTve(value));
        this.latchDmaWindows(index >> 1);
      }
      result = this.tvt[index];
    } else if (table === IODA3_TBL_PESTA || table === IODA3_TBL_PESTB) {
      mask = this.numPes - 1;
      index &= mask;
      const b = table === IODA3_TBL_PESTB;
      if (value !== null) {
        this.errors.writePest(b, index, value);
        this.latchDmaWindows(index);
      }
      result = (b ? this.errors.pestb : this.errors.pesta)[index];
    } else if (table === IODA3_TBL_PEEV) {
      mask = this.errors.peev.length - 1;
      index &= mask;
      if (value !== null) this.errors.peev[index] = value;
      result = this.errors.peev[index];
    } else {
      return 0n;
    }
    if (adreg & PHB_IODA_AD_AUTOINC) this.regs.set(PHB_IODA_ADDR, setFieldBig(adreg, PHB_IODA_AD_TADR, (index + 1) & mask));
    return result;
  }

  private tceKill(value: bigint): void {
    // Fast path for what skiboot writes most (KILL_PE, always with HW560152): the kind bits and
    // PENUM read as numbers; decodeTceKill gives the same answer (ALL wins over PE over ONE).
    const kinds = Number(value >> TCE_KILL_KIND_SHIFT);
    if (kinds & KIND_ALL) return this.tceCache.killAll();
    if (kinds & KIND_PE) {
      const pe = Number(value & PENUM_MASK);
      if (pe < this.numPes) this.tceCache.killPe(pe);
      return;
    }
    const k = decodeTceKill(value);
    if (!k || k.kind !== 'one' || k.pe >= this.numPes) return;
    const select = Number((k.dmaAddr >> BigInt(TVE_SELECT_SHIFT)) & 1n);
    const offset = k.dmaAddr & ((1n << BigInt(TVE_SELECT_SHIFT)) - 1n);
    // Cached entries are whole IO pages of the window's TVE; a kill names one page of its own size.
    const tve = this.tves[k.pe * 2 + select];
    const pageShift = tve.pageShift ? tve.pageShift : k.pageShift;
    const killBase = offset >> BigInt(k.pageShift);
    const first = Number((killBase << BigInt(k.pageShift)) >> BigInt(pageShift));
    const count = k.pageShift > pageShift ? 2 ** (k.pageShift - pageShift) : 1;
    this.tceCache.killPages(k.pe, select, first, count);
  }

  // ---- hardware state the walker reads ---------------------------------------------------

  /** Decoded TVT entry `index` (the non-translating latch of 0 when the entry is zero). */
  tve(index: number): LatchedTve {
    return this.tves[index];
  }

  tveRaw(index: number): bigint {
    return this.tvt[index] ?? 0n;
  }

  /** What the PHB does on a DMA error: freeze the PE (PESTA MMIO_FROZEN, PESTB DMA_STOPPED, its PEEV bit). */
  freeze(pe: number): void {
    this.errors.freeze(pe);
    this.latchDmaWindows(pe);
  }

  /** The windows of a PE's two TVEs as the DMA path checks them (PhbWalkState.dmaWindowFrames). */
  private latchDmaWindows(pe: number): void {
    const open = pe !== this.reservedPe && this.dmaStopped[pe] === 0;
    for (let index = pe * 2; index < pe * 2 + 2; index++) {
      this.dmaWindowFrames[index] = open ? this.tves[index].windowFrames : 0;
      this.ioPageFrames[index] = this.tves[index].pageFrames;
    }
  }

  /**
   * A DMA. An ATS-translated request is refused (TRANSLATED_REQUEST): PHB4 has no ATS. skiboot's
   * PHB4 code (hw/phb4.c, include/phb4-regs.h) has no ATS setting at all (ATS appears only in its
   * NPU2 code), QEMU's PHB4 gives devices an IOMMU address space and no ATS translation path, and
   * Linux PowerNV never enables ATS on a device (GET_INFO reports ats: false).
   */
  translate(req: DmaRequest): TranslateResult {
    const r = translateCached(this, req);
    // -1 is NOT_CACHED.
    return r !== -1 ? r : translateDma(this, req, null);
  }

  /**
   * The walk `translate` makes, recorded into `tracer` with no side effect (nothing cached, no
   * PE frozen); with `caches`, the RTC and the TCE cache are probed first and a TCE cache hit ends
   * the walk with what the DMA would use.
   */
  walk(req: DmaRequest, tracer: WalkTracer, options?: { caches?: boolean }): TranslateResult {
    return translateDma(this, req, new PhbTrace(tracer, options?.caches === true));
  }

  // ---- hardware view ---------------------------------------------------------------------

  /** Architectural registers and the valid IODA entries. No side effect. */
  registers(): Record<string, bigint> {
    const out: Record<string, bigint> = {
      PHB_RTT_BAR: this.regs.get(PHB_RTT_BAR) ?? 0n,
      PHB_PHB4_EEH_CAP: this.regs.get(PHB_PHB4_EEH_CAP) ?? 0n,
    };
    for (let i = 0; i < this.tvt.length; i++) if (this.tvt[i] !== 0n) out[`TVT[${i}]`] = this.tvt[i];
    this.errors.entries(out);
    return out;
  }
}
