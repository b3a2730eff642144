import { bswap32, toFrame, type DmaRequest, type FaultRecord, type HostMemory, type TranslateResult } from '@ioasid/core';
import { TCE_ADDR_HI_MASK, TCE_ADDR_LO_MASK, TCE_PCI_READ, TCE_PCI_WRITE } from '../formats/tce.js';
import { readRte } from '../tables/rtt.js';
import { TVE_MAX_LEVELS, type DecodedTve } from '../tables/tve.js';
import { PHB_DMA_ERROR, type PhbDmaErrorName } from './dma-errors.js';
import type { Phb4 } from './phb.js';
import { PHB_RTT_BAR, PHB_RTT_BAR_ENABLE, PHB_RTT_BASE_ADDRESS } from './registers.js';

/** 4 KiB frames: bus bit 59 is frame bit 47; bits 63:60 start at frame 2^48. */
const SELECT_FRAME = 2 ** 47;
const DMA_FRAME_LIMIT = 2 ** 48;
const TWO_32 = 2 ** 32;

/**
 * A TVT entry as the PHB latches it when the entry is written: the decoded fields plus the numbers
 * the walk derives from them (window reach, page and level sizes, the table address as two words).
 * Nothing here depends on memory: it is the on-chip register, decoded once instead of per DMA.
 */
export interface LatchedTve extends DecodedTve {
  /** Valid, at most TVE_MAX_LEVELS levels and a translating page size (else TVE_INVALID). */
  translates: boolean;
  /** 4 KiB frames per IO page and per window. */
  pageFrames: number;
  windowFrames: number;
  /** Table address bits 63:32 and 31:0. */
  tableHi: number;
  tableLo: number;
  /** 2^levelBits: TCEs per level. */
  levelSpan: number;
  /** IO pages one TCE of each level covers (levelSpan^level). */
  levelPages: number[];
  /** Whether a level's byte offsets fit 32 bits, so the walk ORs them into the low address word. */
  wordWalk: boolean;
}

export function latchTve(d: DecodedTve): LatchedTve {
  const levelSpan = 2 ** d.levelBits;
  const levelPages: number[] = [];
  for (let l = 0; l < Math.min(d.levels, 8); l++) levelPages.push(2 ** (d.levelBits * l));
  return {
    ...d,
    translates: d.valid && d.levels <= TVE_MAX_LEVELS && d.pageShift !== 0,
    pageFrames: d.pageShift === 0 ? 1 : 2 ** (d.pageShift - 12),
    windowFrames: d.pageShift === 0 ? 0 : 2 ** (d.windowShift - 12),
    tableHi: Number(d.tableAddr >> 32n),
    tableLo: Number(d.tableAddr & 0xffffffffn),
    levelSpan,
    levelPages,
    wordWalk: d.levelBits + 3 <= 31,
  };
}

/**
 * A DMA through the PHB (as QEMU pnv_phb4_translate_iommu / pnv_phb4_translate_tve walk it):
 * RID → RTT (through the RTC) → PE# → TVE 2·PE + bus bit 59 → window bounds → TCE cache or
 * the TCE levels in memory (each level's base ORed with index·8) → real address.
 */
export function translateDma(phb: Phb4, req: DmaRequest): TranslateResult {
  if (req.pasid >= 0) return fault(phb, req, -1, 'NO_PE', { detail: 'PHB4 does not accept PASID-prefixed requests' });
  let pe = phb.rtc.lookup(req.rid);
  if (pe < 0) {
    pe = rttLookup(phb, req.rid);
    if (pe < 0) return fault(phb, req, -1, 'NO_PE', { detail: 'PHB_RTT_BAR is not enabled' });
  }
  if (pe >= phb.numPes || pe === phb.reservedPe) return fault(phb, req, -1, 'NO_PE', { rte: pe });
  if (phb.dmaStopped[pe]) return fault(phb, req, pe, 'PE_FROZEN', {});

  const f = req.iovaFrame;
  if (f >= DMA_FRAME_LIMIT) return fault(phb, req, pe, 'OUT_OF_WINDOW', { detail: 'bus address bits 63:60 are not DMA' });
  const select = f >= SELECT_FRAME ? 1 : 0;
  const off = f - select * SELECT_FRAME;
  const tveIndex = pe * 2 + select;
  const tve = phb.tve(tveIndex);
  if (tve === undefined || !tve.translates) {
    return fault(phb, req, pe, 'TVE_INVALID', { tve: tveIndex, tveValue: phb.tveRaw(tveIndex) });
  }
  if (off >= tve.windowFrames) {
    return fault(phb, req, pe, 'OUT_OF_WINDOW', { tve: tveIndex, windowSize: 1n << BigInt(tve.windowShift) });
  }
  const pageFrames = tve.pageFrames;
  const page = pageFrames === 1 ? off : Math.floor(off / pageFrames);
  let entry = phb.tceCache.lookup(tveIndex, pe, page);
  if (entry < 0) {
    entry = tve.wordWalk ? walkTces(phb.mem, tve, page) : walkTcesWide(phb.mem, tve, page);
    if (entry < 0) {
      return fault(phb, req, pe, 'TCE_INVALID', {
        tve: tveIndex,
        level: walkFault.level,
        tceAddr: BigInt(walkFault.addr),
        tce: (BigInt(walkFault.hi) << 32n) | BigInt(walkFault.lo),
      });
    }
    phb.tceCache.fill(tveIndex, pe, page, entry);
  }
  // entry < 2^44: `& 3` takes the permission bits from the low word.
  const granted = entry & 3;
  if (req.write ? !(granted & TCE_PCI_WRITE) : !(granted & TCE_PCI_READ)) {
    return fault(phb, req, pe, 'PERMISSION', { tve: tveIndex, tceRead: (granted & TCE_PCI_READ) !== 0, tceWrite: (granted & TCE_PCI_WRITE) !== 0 });
  }
  return (entry - granted) / 4 + (off & (pageFrames - 1));
}

/** RTC miss: the PE# from the RTT in memory (filling the RTC), or -1 when PHB_RTT_BAR is not enabled. */
function rttLookup(phb: Phb4, rid: number): number {
  const bar = phb.readRegister(PHB_RTT_BAR);
  if (!(bar & PHB_RTT_BAR_ENABLE)) return -1;
  const pe = readRte(phb.mem, Number(bar & PHB_RTT_BASE_ADDRESS), rid);
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
    const frame = hi * 0x100000 + (aLo >>> 12);
    const w = mem.wordsForRead(frame);
    const i = mem.wordBase(frame) + ((aLo & 0xfff) >>> 2);
    const tceHi = bswap32(w[i]);
    const tceLo = bswap32(w[i + 1]);
    const perms = tceLo & (TCE_PCI_READ | TCE_PCI_WRITE);
    if (perms === 0) return invalidTce(level, hi * TWO_32 + aLo, tceHi, tceLo);
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

function fault(phb: Phb4, req: DmaRequest, pe: number, name: PhbDmaErrorName, extra: Record<string, unknown>): FaultRecord {
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
