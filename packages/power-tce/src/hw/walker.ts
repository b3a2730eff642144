import { bswap32, getAddrBig, toFrame, type DmaRequest, type FaultRecord, type HostMemory, type TranslateResult } from '@ioasid/core';
import { TCE_ADDR_HI_MASK, TCE_ADDR_LO_MASK, TCE_PCI_READ, TCE_PCI_WRITE } from '../formats/tce.js';
import { readRte } from '../tables/rtt.js';
import { TVE_MAX_LEVELS, type DecodedTve } from '../tables/tve.js';
import { PHB_DMA_ERROR, type PhbDmaErrorName } from './dma-errors.js';
import type { RidTranslationCache } from './rid-cache.js';
import type { TceCache } from './tce-cache.js';
import { PHB_RTT_BAR_ENABLE, PHB_RTT_BASE_ADDRESS, type PhbRegName } from './registers.js';

/** 4 KiB frames: bus bit 59 is frame bit 47 (SELECT_FRAME, 2^47); bits 63:60 start at frame 2^48. */
const DMA_FRAME_LIMIT = 2 ** 48;
const TWO_32 = 2 ** 32;
const TWO_30 = 2 ** 30;

/** How the walk reads a latched TVE's table (LatchedTve.mode). */
export const TVE_NO_TRANSLATE = 0;
/** One level whose byte offsets fit 32 bits: one TCE read (readOneLevel), no walk loop. */
export const TVE_ONE_LEVEL = 1;
/** Several levels whose byte offsets fit 32 bits (walkTces). */
export const TVE_WORD_WALK = 2;
/** Levels of 2 GiB or more (walkTcesWide). */
export const TVE_WIDE_WALK = 3;

/**
 * A TVT entry as the PHB latches it when the entry is written: the decoded fields plus the numbers
 * the walk derives from them (window reach, page and level sizes, the table address as two words).
 * Nothing here depends on memory: it is the on-chip register, decoded once instead of per DMA.
 * A class with every field set in the constructor, so the DMA path reads fixed-shape numbers.
 */
export class LatchedTve implements DecodedTve {
  readonly raw: bigint;
  readonly valid: boolean;
  readonly tableAddr: bigint;
  readonly levels: number;
  readonly tableSizeField: number;
  readonly ioPsizeField: number;
  readonly nonTranslate50: boolean;
  readonly levelBits: number;
  readonly pageShift: number;
  readonly windowShift: number;
  /** Valid, at most TVE_MAX_LEVELS levels and a translating page size (else TVE_INVALID). */
  readonly translates: boolean;
  /** TVE_NO_TRANSLATE (fault TVE_INVALID), TVE_ONE_LEVEL, TVE_WORD_WALK or TVE_WIDE_WALK. */
  readonly mode: number;
  /** 4 KiB frames per IO page and per window. */
  readonly pageFrames: number;
  readonly windowFrames: number;
  /** Table address bits 63:32 and 31:0, and bits 63:32 as a byte address (tableHi · 2^32). */
  readonly tableHi: number;
  readonly tableLo: number;
  readonly tableHiBytes: number;
  /** 2^levelBits: TCEs per level, and that minus one. */
  readonly levelSpan: number;
  readonly indexMask: number;
  /** IO pages one TCE of each level covers (levelSpan^level). */
  readonly levelPages: number[];
  /** Whether a level's byte offsets fit 32 bits, so the walk ORs them into the low address word. */
  readonly wordWalk: boolean;

  constructor(d: DecodedTve) {
    this.raw = d.raw;
    this.valid = d.valid;
    this.tableAddr = d.tableAddr;
    this.levels = d.levels;
    this.tableSizeField = d.tableSizeField;
    this.ioPsizeField = d.ioPsizeField;
    this.nonTranslate50 = d.nonTranslate50;
    this.levelBits = d.levelBits;
    this.pageShift = d.pageShift;
    this.windowShift = d.windowShift;
    this.translates = d.valid && d.levels <= TVE_MAX_LEVELS && d.pageShift !== 0;
    this.wordWalk = d.levelBits + 3 <= 31;
    this.mode = !this.translates ? TVE_NO_TRANSLATE : !this.wordWalk ? TVE_WIDE_WALK : d.levels === 1 ? TVE_ONE_LEVEL : TVE_WORD_WALK;
    // Small integers stay small integers (tagged, not boxed doubles) for the DMA path.
    const pageFrames = d.pageShift === 0 ? 1 : 2 ** (d.pageShift - 12);
    this.pageFrames = pageFrames < TWO_30 ? pageFrames | 0 : pageFrames;
    this.windowFrames = d.pageShift === 0 ? 0 : 2 ** (d.windowShift - 12);
    this.tableHi = Number(d.tableAddr >> 32n);
    this.tableLo = Number(d.tableAddr & 0xffffffffn);
    this.tableHiBytes = this.tableHi * TWO_32;
    this.levelSpan = 2 ** d.levelBits;
    this.indexMask = this.wordWalk ? (this.levelSpan - 1) | 0 : 0;
    this.levelPages = [];
    for (let l = 0; l < Math.min(d.levels, 8); l++) this.levelPages.push(2 ** (d.levelBits * l));
  }
}

export function latchTve(d: DecodedTve): LatchedTve {
  return new LatchedTve(d);
}

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
  readonly tceCache: TceCache;
  readonly rtc: RidTranslationCache;
  /** MMIO read by register name (the walk reads PHB_RTT_BAR). */
  read(name: PhbRegName): bigint;
  /** Latched TVT entry `index`, and its raw value. */
  tve(index: number): LatchedTve;
  tveRaw(index: number): bigint;
  /** EEH: freeze the PE (PESTA MMIO_FROZEN, PESTB DMA_STOPPED). */
  freeze(pe: number): void;
}

/**
 * A DMA through the PHB (as QEMU pnv_phb4_translate_iommu / pnv_phb4_translate_tve walk it):
 * RID → RTT (through the RTC) → PE# → TVE 2·PE + bus bit 59 → window bounds → TCE cache or
 * the TCE levels in memory (each level's base ORed with index·8) → real address.
 *
 * The checks come in that order; each failing one hands over to an out-of-line function that
 * builds the fault record, and a TCE cache miss to tceMiss, so the per-DMA code stays small.
 * Numeric literals stand for the module constants named beside them (no binding checks per DMA).
 */
export function translateDma(phb: PhbWalkState, req: DmaRequest): TranslateResult {
  // -2: a PASID-prefixed request, which PHB4 does not accept (no RTC lookup); -1: RTC miss.
  let pe = req.pasid >= 0 ? -2 : phb.rtc.lookup(req.rid);
  if (pe === -1) pe = rttLookup(phb, req.rid);
  if (pe < 0 || pe >= phb.numPes || pe === phb.reservedPe || phb.dmaStopped[pe] !== 0) return peFault(phb, req, pe);

  const f = req.iovaFrame;
  // Bus bit 59 (frame 2^47, SELECT_FRAME) selects the PE's second TVE.
  const select = f >= 0x800000000000 ? 1 : 0;
  const off = select === 0 ? f : f - 0x800000000000;
  const tveIndex = pe * 2 + select;
  const tve = phb.tve(tveIndex);
  // Bus bits 63:60 (frame 2^48, DMA_FRAME_LIMIT) are not DMA; mode 0 is TVE_NO_TRANSLATE.
  if (f >= 0x1000000000000 || tve.mode === 0 || off >= tve.windowFrames) return windowFault(phb, req, pe, tveIndex);
  const pageFrames = tve.pageFrames;
  const page = pageFrames === 1 ? off : Math.floor(off / pageFrames);
  let entry = phb.tceCache.lookup(tveIndex, pe, page);
  if (entry < 0) {
    entry = tceMiss(phb, tve, tveIndex, pe, page);
    if (entry < 0) return tceFault(phb, req, pe, tveIndex);
  }
  // entry < 2^48: `& 3` takes the permission bits (TCE_PCI_READ 1, TCE_PCI_WRITE 2) from the low word.
  const granted = entry & 3;
  if ((granted & (req.write ? 2 : 1)) === 0) return permissionFault(phb, req, pe, tveIndex, granted);
  return (entry - granted) / 4 + (off & (pageFrames - 1));
}

/**
 * TCE cache miss: the IO page's host frame · 4 + permission bits from the TCE levels in memory,
 * filled into the TCE cache; or -1 at an invalid TCE (walkFault says where; nothing is cached).
 * One level is read here; deeper tables by the walks. Out of line, so the hit path stays small.
 */
function tceMiss(phb: PhbWalkState, tve: LatchedTve, tveIndex: number, pe: number, page: number): number {
  // Mode 1 is TVE_ONE_LEVEL.
  const mem = phb.mem;
  const entry =
    tve.mode === 1 ? readOneLevel(mem, tve, page) : tve.mode === TVE_WORD_WALK ? walkTces(mem, tve, page) : walkTcesWide(mem, tve, page);
  if (entry >= 0) phb.tceCache.fill(tveIndex, pe, page, entry);
  return entry;
}

/** TVE_ONE_LEVEL: the TCE at the table address ORed with index·8, as walkTces reads it. */
function readOneLevel(mem: HostMemory, tve: LatchedTve, page: number): number {
  const addr = tve.tableHiBytes + ((tve.tableLo | ((page & tve.indexMask) << 3)) >>> 0);
  // Both words big-endian in memory: byte-swapped in place (signed 32-bit, no double).
  const h = mem.u32(addr);
  const l = mem.u32(addr + 4);
  const tceHi = (h << 24) | ((h & 0xff00) << 8) | ((h >>> 8) & 0xff00) | (h >>> 24);
  const tceLo = (l << 24) | ((l & 0xff00) << 8) | ((l >>> 8) & 0xff00) | (l >>> 24);
  // TCE_PCI_READ | TCE_PCI_WRITE; the IO page's first frame (QEMU: tce & tce_mask) · 4 + them.
  const perms = tceLo & 3;
  if (perms === 0) return invalidTce(0, addr, tceHi >>> 0, tceLo >>> 0);
  return ((tceHi & 0xfffff) * 0x100000 + ((tceLo >>> 12) & ~(tve.pageFrames - 1))) * 4 + perms;
}

/** The RTC/RTT stage failed: no PE (RTT disabled, PE out of range or reserved) or a frozen PE. */
function peFault(phb: PhbWalkState, req: DmaRequest, pe: number): FaultRecord {
  if (req.pasid >= 0) return fault(phb, req, -1, 'NO_PE', { detail: 'PHB4 does not accept PASID-prefixed requests' });
  if (pe < 0) return fault(phb, req, -1, 'NO_PE', { detail: 'PHB_RTT_BAR is not enabled' });
  if (pe >= phb.numPes || pe === phb.reservedPe) return fault(phb, req, -1, 'NO_PE', { rte: pe });
  return fault(phb, req, pe, 'PE_FROZEN', {});
}

/** The bus address is not DMA, its TVE does not translate, or it lies beyond the window. */
function windowFault(phb: PhbWalkState, req: DmaRequest, pe: number, tveIndex: number): FaultRecord {
  if (req.iovaFrame >= DMA_FRAME_LIMIT) return fault(phb, req, pe, 'OUT_OF_WINDOW', { detail: 'bus address bits 63:60 are not DMA' });
  const tve = phb.tve(tveIndex);
  if (!tve.translates) return fault(phb, req, pe, 'TVE_INVALID', { tve: tveIndex, tveValue: phb.tveRaw(tveIndex) });
  return fault(phb, req, pe, 'OUT_OF_WINDOW', { tve: tveIndex, windowSize: 1n << BigInt(tve.windowShift) });
}

/** The walk met a TCE with neither permission bit (walkFault says where). */
function tceFault(phb: PhbWalkState, req: DmaRequest, pe: number, tveIndex: number): FaultRecord {
  return fault(phb, req, pe, 'TCE_INVALID', {
    tve: tveIndex,
    level: walkFault.level,
    tceAddr: BigInt(walkFault.addr),
    tce: (BigInt(walkFault.hi) << 32n) | BigInt(walkFault.lo),
  });
}

function permissionFault(phb: PhbWalkState, req: DmaRequest, pe: number, tveIndex: number, granted: number): FaultRecord {
  return fault(phb, req, pe, 'PERMISSION', { tve: tveIndex, tceRead: (granted & TCE_PCI_READ) !== 0, tceWrite: (granted & TCE_PCI_WRITE) !== 0 });
}

/** RTC miss: the PE# from the RTT in memory (filling the RTC), or -1 when PHB_RTT_BAR is not enabled. */
function rttLookup(phb: PhbWalkState, rid: number): number {
  const bar = phb.read('PHB_RTT_BAR');
  if (!(bar & PHB_RTT_BAR_ENABLE)) return -1;
  const pe = readRte(phb.mem, Number(getAddrBig(bar, PHB_RTT_BASE_ADDRESS)), rid);
  phb.rtc.set(rid, pe);
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
function walkTces(mem: HostMemory, tve: LatchedTve, page: number): number {
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
function walkTcesWide(mem: HostMemory, tve: LatchedTve, page: number): number {
  let base = tve.tableHi * TWO_32 + tve.tableLo;
  for (let level = tve.levels - 1; ; level--) {
    const within = Math.floor(page / tve.levelPages[level]) % tve.levelSpan;
    const addr = Number(BigInt(base) | BigInt(within * 8));
    const tceHi = bswap32(mem.u32(addr));
    const tceLo = bswap32(mem.u32(addr + 4));
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

function fault(phb: PhbWalkState, req: DmaRequest, pe: number, name: PhbDmaErrorName, extra: Record<string, unknown>): FaultRecord {
  const rec: FaultRecord = {
    ...extra,
    rid: req.rid,
    iova: BigInt(req.iovaFrame) * 4096n,
    write: req.write,
    code: PHB_DMA_ERROR[name],
    name,
  };
  if (req.pasid >= 0) rec.pasid = req.pasid;
  if (pe >= 0) {
    rec.pe = pe;
    // EEH: the error freezes the PE until firmware clears PESTA/PESTB.
    if (name !== 'PE_FROZEN') phb.freeze(pe);
    rec.frozen = true;
  }
  return rec;
}
