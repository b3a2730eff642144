import { bswap32, getAddrBig, toFrame, type DmaRequest, type FaultRecord, type HostMemory, type TranslateResult } from '@ioasid/core';
import { TCE_ADDR_HI_MASK, TCE_ADDR_LO_MASK, TCE_PCI_READ, TCE_PCI_WRITE } from '../formats/tce.js';
import { readRte, rteAddr } from '../tables/rtt.js';
import { TVE_REAL_UNIT_SHIFT } from '../tables/tve-real.js';
import { bypassFrame } from './bypass.js';
import { PHB_DMA_ERROR, PHB_DMA_ERROR_EXPLAIN, type PhbDmaErrorName } from './dma-errors.js';
import { TVE_BYPASS, TVE_WORD_WALK, type LatchedTve } from './latched-tve.js';
import type { PhbTrace } from './phb-trace.js';
import type { RidTranslationCache } from './rid-cache.js';
import type { TceCache } from './tce-cache.js';
import { PHB_RTT_BAR_ENABLE, PHB_RTT_BASE_ADDRESS, type PhbRegName } from './registers.js';

/** 4 KiB frames: bus bit 59 is frame bit 47 (SELECT_FRAME, 2^47); bits 63:60 start at frame 2^48. */
const DMA_FRAME_LIMIT = 2 ** 48;
const TWO_32 = 2 ** 32;
const REAL_UNIT_SHIFT = BigInt(TVE_REAL_UNIT_SHIFT);

/**
 * What the walk reads of the PHB (and the one thing it does to it, EEH freeze): the on-chip state
 * and host memory, nothing of the driver. Phb4 implements it; the walk does not know the class.
 */
export interface PhbWalkState {
  readonly mem: HostMemory;
  readonly numPes: number;
  readonly reservedPe: number;
  /** PESTB DMA_STOPPED per PE. */
  readonly dmaStopped: Uint8Array;
  /**
   * Per TVE: the 4 KiB frames of its window when it translates and its PE may DMA (neither the
   * reserved PE nor frozen), else 0; and its IO page size in 4 KiB frames.
   */
  readonly dmaWindowFrames: Float64Array;
  readonly ioPageFrames: Int32Array;
  readonly tceCache: TceCache;
  readonly rtc: RidTranslationCache;
  /** MMIO read by register name (the walk reads PHB_RTT_BAR). */
  read(name: PhbRegName): bigint;
  /** Latched TVT entry `index`, and its raw value. */
  tve(index: number): LatchedTve;
  tveRaw(index: number): bigint;
  /** EEH: freeze the PE (PESTA MMIO_FROZEN, PESTB DMA_STOPPED, its PEEV bit). */
  freeze(pe: number): void;
}

/**
 * A DMA through the PHB (as QEMU pnv_phb4_translate_iommu / pnv_phb4_translate_tve walk it):
 * RID → RTT (through the RTC) → PE# → TVE 2·PE + bus bit 59 → window bounds → TCE cache or
 * the TCE levels in memory (each level's base ORed with index·8) → real address. A TVE with
 * IO_PSIZE 0 translates nothing: offWindow passes the bus address on as the real address.
 *
 * The checks come in that order; each failing one hands over to an out-of-line function that
 * builds the fault record, and a TCE cache miss to tceMiss, so the per-DMA code stays small.
 * Numeric literals stand for the module constants named beside them (no binding checks per DMA).
 *
 * `t` is null for a DMA. A traced walk (IommuUnit.walk) passes its hook and takes this same path
 * with no side effect: the RTC and the TCE cache are only probed (with `t.caches`) or skipped,
 * never filled, and no error freezes the PE.
 */
export function translateDma(phb: PhbWalkState, req: DmaRequest, t: PhbTrace | null): TranslateResult {
  const pe = peOf(phb, req, t);
  if (pe < 0 || pe >= phb.numPes) return peFault(phb, req, pe, t);

  const f = req.iovaFrame;
  // Bus bit 59 (frame 2^47, SELECT_FRAME) selects the PE's second TVE.
  const select = f >= 0x800000000000 ? 1 : 0;
  const off = select === 0 ? f : f - 0x800000000000;
  const tveIndex = pe * 2 + select;
  // Bus bits 63:60 (frame 2^48, DMA_FRAME_LIMIT) are not DMA. The window is 0 frames for the
  // reserved PE, a frozen one and a TVE that does not translate: refused() says which.
  if (f >= 0x1000000000000 || off >= phb.dmaWindowFrames[tveIndex]) return refused(phb, req, pe, tveIndex, t);
  const pageFrames = phb.ioPageFrames[tveIndex];
  const page = pageFrames === 1 ? off : Math.floor(off / pageFrames);
  let entry = t === null ? phb.tceCache.lookup(tveIndex, page) : t.tveThenCache(phb.tceCache, tveIndex, page, phb.tve(tveIndex));
  if (entry < 0) {
    entry = tceMiss(phb, tveIndex, page, t);
    if (entry < 0) return tceFault(phb, req, pe, tveIndex, t);
  }
  // entry < 2^48: `& 3` takes the permission bits (TCE_PCI_READ 1, TCE_PCI_WRITE 2) from the low word.
  const granted = entry & 3;
  if ((granted & (req.write === true ? 2 : 1)) === 0) return permissionFault(phb, req, pe, tveIndex, granted, t);
  return (entry - granted) / 4 + (off & (pageFrames - 1));
}

/** What translateCached returns when translateDma must take the DMA from the start. */
export const NOT_CACHED = -1;

/**
 * translateDma for a DMA whose RID the RTC holds and whose PE and window admit the address (the
 * common case), without the trace hook; NOT_CACHED for any other, which translateDma then takes
 * from the start (the RTC look-up changes nothing, so taking it again is unobservable). A TCE
 * cache miss is walked and filled here, and its faults are raised here, as translateDma would.
 */
export function translateCached(phb: PhbWalkState, req: DmaRequest): TranslateResult {
  if (req.translated === true || req.pasid >= 0) return NOT_CACHED;
  const pe = phb.rtc.lookup(req.rid);
  if (pe < 0 || pe >= phb.numPes) return NOT_CACHED;
  const f = req.iovaFrame;
  const select = f >= 0x800000000000 ? 1 : 0;
  const off = select === 0 ? f : f - 0x800000000000;
  const tveIndex = (pe << 1) | select;
  if (f >= 0x1000000000000 || off >= phb.dmaWindowFrames[tveIndex]) return NOT_CACHED;
  const pageFrames = phb.ioPageFrames[tveIndex];
  const page = pageFrames === 1 ? off : Math.floor(off / pageFrames);
  let entry = phb.tceCache.lookup(tveIndex, page);
  if (entry < 0) {
    entry = tceMiss(phb, tveIndex, page, null);
    if (entry < 0) return tceFault(phb, req, pe, tveIndex, null);
  }
  const granted = entry & 3;
  if ((granted & (req.write === true ? 2 : 1)) === 0) return permissionFault(phb, req, pe, tveIndex, granted, null);
  return (entry - granted) / 4 + (off & (pageFrames - 1));
}

/**
 * The PE# of the request's RID, through the RTC (RTT on a miss); -1 when PHB_RTT_BAR is off.
 * -3 (an ATS-translated request) and -2 (a PASID-prefixed one): PHB4 accepts neither and looks
 * nothing up. A helper of its own so translateDma stays small enough to be inlined.
 */
function peOf(phb: PhbWalkState, req: DmaRequest, t: PhbTrace | null): number {
  if (req.translated === true) return -3;
  if (req.pasid >= 0) return -2;
  const pe = t === null ? phb.rtc.lookup(req.rid) : t.rtc(phb.rtc, req.rid);
  return pe === -1 ? rttLookup(phb, req.rid, t) : pe;
}

/**
 * TCE cache miss: the IO page's host frame · 4 + permission bits from the TCE levels in memory,
 * filled into the TCE cache; or -1 at an invalid TCE (walkFault says where; nothing is cached).
 * One level is read here; deeper tables by the walks. Out of line, so the hit path stays small.
 */
function tceMiss(phb: PhbWalkState, tveIndex: number, page: number, t: PhbTrace | null): number {
  // Mode 1 is TVE_ONE_LEVEL.
  const mem = phb.mem;
  const tve = phb.tve(tveIndex);
  const entry =
    tve.mode === 1 ? readOneLevel(mem, tve, page, t) : tve.mode === TVE_WORD_WALK ? walkTces(mem, tve, page, t) : walkTcesWide(mem, tve, page, t);
  if (entry >= 0 && t === null) phb.tceCache.fill(tveIndex, page, entry);
  return entry;
}

/** TVE_ONE_LEVEL: the TCE at the table address ORed with index·8, as walkTces reads it. */
function readOneLevel(mem: HostMemory, tve: LatchedTve, page: number, t: PhbTrace | null): number {
  const index = page & tve.indexMask;
  const addr = tve.tableHiBytes + ((tve.tableLo | (index << 3)) >>> 0);
  // Both words big-endian in memory: byte-swapped in place (signed 32-bit, no double).
  const h = mem.u32(addr);
  const l = mem.u32(addr + 4);
  const tceHi = (h << 24) | ((h & 0xff00) << 8) | ((h >>> 8) & 0xff00) | (h >>> 24);
  const tceLo = (l << 24) | ((l & 0xff00) << 8) | ((l >>> 8) & 0xff00) | (l >>> 24);
  if (t !== null) t.tce(tve, 0, index, addr, tceHi, tceLo);
  // TCE_PCI_READ | TCE_PCI_WRITE; the IO page's first frame (QEMU: tce & tce_mask) · 4 + them.
  const perms = tceLo & 3;
  if (perms === 0) return invalidTce(0, addr, tceHi >>> 0, tceLo >>> 0);
  return ((tceHi & 0xfffff) * 0x100000 + ((tceLo >>> 12) & ~(tve.pageFrames - 1))) * 4 + perms;
}

/** The PE may not DMA (the reserved PE, a frozen one), or no TCE window holds the address. */
function refused(phb: PhbWalkState, req: DmaRequest, pe: number, tveIndex: number, t: PhbTrace | null): TranslateResult {
  if (pe === phb.reservedPe || phb.dmaStopped[pe] !== 0) return peFault(phb, req, pe, t);
  return offWindow(phb, req, pe, tveIndex, t);
}

/** The RTC/RTT stage failed: no PE (RTT disabled, PE out of range or reserved), a frozen PE, or a request PHB4 refuses. */
function peFault(phb: PhbWalkState, req: DmaRequest, pe: number, t: PhbTrace | null): FaultRecord {
  if (pe === -3) return fault(phb, req, -1, 'TRANSLATED_REQUEST', { translated: true, detail: 'PHB4 has no ATS: it takes no ATS-translated request' }, t);
  if (req.pasid >= 0) return fault(phb, req, -1, 'NO_PE', { detail: 'PHB4 does not accept PASID-prefixed requests' }, t);
  if (pe < 0) return fault(phb, req, -1, 'NO_PE', { detail: 'PHB_RTT_BAR is not enabled' }, t);
  if (pe >= phb.numPes || pe === phb.reservedPe) return fault(phb, req, -1, 'NO_PE', { rte: pe }, t);
  return fault(phb, req, pe, 'PE_FROZEN', {}, t);
}

/**
 * No TCE window holds the address: the bus address is not DMA, its TVE is not valid, it lies
 * beyond the window, or the TVE bypasses translation (the real frame, unless its range refuses it).
 */
function offWindow(phb: PhbWalkState, req: DmaRequest, pe: number, tveIndex: number, t: PhbTrace | null): TranslateResult {
  const f = req.iovaFrame;
  // Bits 63:60 are checked before any TVE is read (QEMU pnv_phb4_translate_iommu: addr >> 60).
  if (f >= DMA_FRAME_LIMIT) return fault(phb, req, pe, 'OUT_OF_WINDOW', { detail: 'bus address bits 63:60 are not DMA' }, t);
  const tve = phb.tve(tveIndex);
  if (tve.mode === TVE_BYPASS) {
    const frame = bypassFrame(tve, f);
    if (t !== null) t.tveBypass(tveIndex, tve, frame >= 0);
    if (frame >= 0) return frame;
    return fault(phb, req, pe, 'OUT_OF_WINDOW', {
      tve: tveIndex,
      realStart: BigInt(tve.realStartUnit) << REAL_UNIT_SHIFT,
      realEnd: BigInt(tve.realEndUnit) << REAL_UNIT_SHIFT,
      detail: 'bus address bits 49:24 are outside the non-translate TVE\'s range',
    }, t);
  }
  if (!tve.translates) {
    if (t !== null) t.tveInvalid(tveIndex, tve);
    return fault(phb, req, pe, 'TVE_INVALID', { tve: tveIndex, tveValue: phb.tveRaw(tveIndex) }, t);
  }
  if (t !== null) t.tveOutOfWindow(tveIndex, tve, f >= 0x800000000000 ? f - 0x800000000000 : f);
  return fault(phb, req, pe, 'OUT_OF_WINDOW', { tve: tveIndex, windowSize: 1n << BigInt(tve.windowShift) }, t);
}

/** The walk met a TCE with neither permission bit (walkFault says where). */
function tceFault(phb: PhbWalkState, req: DmaRequest, pe: number, tveIndex: number, t: PhbTrace | null): FaultRecord {
  return fault(phb, req, pe, 'TCE_INVALID', {
    tve: tveIndex,
    level: walkFault.level,
    tceAddr: BigInt(walkFault.addr),
    tce: (BigInt(walkFault.hi) << 32n) | BigInt(walkFault.lo),
  }, t);
}

function permissionFault(phb: PhbWalkState, req: DmaRequest, pe: number, tveIndex: number, granted: number, t: PhbTrace | null): FaultRecord {
  if (t !== null) t.denied(req.write);
  return fault(phb, req, pe, 'PERMISSION', { tve: tveIndex, tceRead: (granted & TCE_PCI_READ) !== 0, tceWrite: (granted & TCE_PCI_WRITE) !== 0 }, t);
}

/** RTC miss: the PE# from the RTT in memory (filling the RTC, unless traced), or -1 when PHB_RTT_BAR is not enabled. */
function rttLookup(phb: PhbWalkState, rid: number, t: PhbTrace | null): number {
  const bar = phb.read('PHB_RTT_BAR');
  if (!(bar & PHB_RTT_BAR_ENABLE)) return -1;
  const base = Number(getAddrBig(bar, PHB_RTT_BASE_ADDRESS));
  const pe = readRte(phb.mem, base, rid);
  if (t === null) phb.rtc.set(rid, pe);
  else t.rte(rid, rteAddr(base, rid), pe, phb.numPes, phb.reservedPe, pe < phb.numPes && phb.dmaStopped[pe] !== 0);
  return pe;
}

/** Where the last walk that returned -1 stopped: the level, the TCE's address and its two words. */
const walkFault = { level: 0, addr: 0, hi: 0, lo: 0 };

/**
 * The TCE levels in memory, top down: the IO page's host frame · 4 + permission bits, or -1 at
 * an invalid TCE (then walkFault says where). For levels whose byte offsets fit 32 bits: the
 * level's base ORed with index·8 is computed on the low address word, and both words of the TCE
 * come from one frame (8-byte TCEs never straddle one).
 */
function walkTces(mem: HostMemory, tve: LatchedTve, page: number, t: PhbTrace | null): number {
  const indexMask = tve.levelSpan - 1;
  let hi = tve.tableHi;
  let lo = tve.tableLo;
  for (let level = tve.levels - 1; ; level--) {
    const within = level === 0 ? page : Math.floor(page / tve.levelPages[level]);
    const aLo = (lo | ((within & indexMask) * 8)) >>> 0;
    // Both words of the TCE (8-byte aligned: never across a chunk), big-endian in memory.
    const addr = hi * TWO_32 + aLo;
    const tceHi = bswap32(mem.u32(addr));
    const tceLo = bswap32(mem.u32(addr + 4));
    if (t !== null) t.tce(tve, level, within & indexMask, addr, tceHi, tceLo);
    const perms = tceLo & (TCE_PCI_READ | TCE_PCI_WRITE);
    if (perms === 0) return invalidTce(level, addr, tceHi, tceLo);
    hi = tceHi & TCE_ADDR_HI_MASK;
    lo = (tceLo & TCE_ADDR_LO_MASK) >>> 0;
    if (level === 0) {
      // The IO page's first frame (QEMU: tce & tce_mask); pageFrames <= 2^18 < 2^20, so the low
      // bits of the frame are those of lo.
      return (toFrame(lo, hi) - ((lo >>> 12) & (tve.pageFrames - 1))) * 4 + perms;
    }
  }
}

/** The same walk for TVEs whose levels are 2 GiB or larger (index·8 ORed in as a bigint). */
function walkTcesWide(mem: HostMemory, tve: LatchedTve, page: number, t: PhbTrace | null): number {
  let base = tve.tableHi * TWO_32 + tve.tableLo;
  for (let level = tve.levels - 1; ; level--) {
    const within = Math.floor(page / tve.levelPages[level]) % tve.levelSpan;
    const addr = Number(BigInt(base) | BigInt(within * 8));
    const tceHi = bswap32(mem.u32(addr));
    const tceLo = bswap32(mem.u32(addr + 4));
    if (t !== null) t.tce(tve, level, within, addr, tceHi, tceLo);
    const perms = tceLo & (TCE_PCI_READ | TCE_PCI_WRITE);
    if (perms === 0) return invalidTce(level, addr, tceHi, tceLo);
    const frame = toFrame(tceLo & TCE_ADDR_LO_MASK, tceHi & TCE_ADDR_HI_MASK);
    if (level === 0) return (frame - (frame % tve.pageFrames)) * 4 + perms;
    base = frame * 4096;
  }
}

function invalidTce(level: number, addr: number, hi: number, lo: number): number {
  walkFault.level = level;
  walkFault.addr = addr;
  walkFault.hi = hi;
  walkFault.lo = lo;
  return -1;
}

function fault(phb: PhbWalkState, req: DmaRequest, pe: number, name: PhbDmaErrorName, extra: Record<string, unknown>, t: PhbTrace | null): FaultRecord {
  const rec: FaultRecord = {
    ...extra,
    rid: req.rid,
    iova: BigInt(req.iovaFrame) * 4096n,
    write: req.write,
    code: PHB_DMA_ERROR[name],
    name,
    explain: PHB_DMA_ERROR_EXPLAIN[name],
  };
  if (req.pasid >= 0) rec.pasid = req.pasid;
  if (pe >= 0) {
    rec.pe = pe;
    // EEH: the error freezes the PE until firmware clears PESTA/PESTB (and with them its PEEV bit);
    // a traced walk only reports that the DMA would.
    if (name !== 'PE_FROZEN' && t === null) phb.freeze(pe);
    rec.frozen = true;
  }
  return rec;
}
