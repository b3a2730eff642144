import { bswap32, toFrame, type DmaRequest, type FaultRecord, type TranslateResult } from '@ioasid/core';
import { TCE_ADDR_HI_MASK, TCE_ADDR_LO_MASK, TCE_PCI_READ, TCE_PCI_WRITE } from '../formats/tce.js';
import { readRte } from '../tables/rtt.js';
import { TVE_MAX_LEVELS } from '../tables/tve.js';
import { PHB_DMA_ERROR, type PhbDmaErrorName } from './dma-errors.js';
import type { Phb4 } from './phb.js';
import { PHB_RTT_BAR, PHB_RTT_BAR_ENABLE, PHB_RTT_BASE_ADDRESS } from './registers.js';
import { TCE_CACHE_SELECT_STRIDE } from './tce-cache.js';

/** 4 KiB frames: bus bit 59 is frame bit 47; bits 63:60 start at frame 2^48. */
const SELECT_FRAME = 2 ** 47;
const DMA_FRAME_LIMIT = 2 ** 48;

/**
 * A DMA through the PHB (as QEMU pnv_phb4_translate_iommu / pnv_phb4_translate_tve walk it):
 * RID → RTT (through the RTC) → PE# → TVE 2·PE + bus bit 59 → window bounds → TCE cache or
 * the TCE levels in memory (each level's base ORed with index·8) → real address.
 */
export function translateDma(phb: Phb4, req: DmaRequest): TranslateResult {
  const rid = req.rid;
  if (req.pasid >= 0) return fault(phb, req, -1, 'NO_PE', { detail: 'PHB4 does not accept PASID-prefixed requests' });

  let pe = phb.rtc.get(rid);
  if (pe === undefined) {
    const bar = phb.readRegister(PHB_RTT_BAR);
    if (!(bar & PHB_RTT_BAR_ENABLE)) return fault(phb, req, -1, 'NO_PE', { detail: 'PHB_RTT_BAR is not enabled' });
    pe = readRte(phb.mem, Number(bar & PHB_RTT_BASE_ADDRESS), rid);
    phb.rtc.set(rid, pe);
  }
  if (pe >= phb.numPes || pe === phb.reservedPe) return fault(phb, req, -1, 'NO_PE', { rte: pe });
  if (phb.dmaStopped[pe]) return fault(phb, req, pe, 'PE_FROZEN', {});

  const f = req.iovaFrame;
  if (f >= DMA_FRAME_LIMIT) return fault(phb, req, pe, 'OUT_OF_WINDOW', { detail: 'bus address bits 63:60 are not DMA' });
  const select = f >= SELECT_FRAME ? 1 : 0;
  const off = select ? f - SELECT_FRAME : f;
  const tveIndex = pe * 2 + select;
  const tve = phb.tve(tveIndex);
  if (!tve || !tve.valid || tve.levels > TVE_MAX_LEVELS || tve.pageShift === 0) {
    return fault(phb, req, pe, 'TVE_INVALID', { tve: tveIndex, tveValue: phb.tveRaw(tveIndex) });
  }
  const pageFrames = 2 ** (tve.pageShift - 12);
  if (off >= 2 ** (tve.windowShift - 12)) {
    return fault(phb, req, pe, 'OUT_OF_WINDOW', { tve: tveIndex, windowSize: 1n << BigInt(tve.windowShift) });
  }
  const page = Math.floor(off / pageFrames);
  const key = select * TCE_CACHE_SELECT_STRIDE + page;
  let entry = phb.tceCache.get(pe, key);
  if (entry === undefined) {
    const bits = tve.levelBits;
    const levelSpan = 2 ** bits;
    const tableBytes = levelSpan * 8;
    let base = Number(tve.tableAddr);
    let out = -1;
    let perms = 0;
    for (let level = tve.levels - 1; level >= 0; level--) {
      const idx = Math.floor(page / 2 ** (bits * level)) % levelSpan;
      const addr = orIndex(base, idx * 8, tableBytes);
      const hi = bswap32(phb.mem.u32(addr));
      const lo = bswap32(phb.mem.u32(addr + 4));
      perms = lo & (TCE_PCI_READ | TCE_PCI_WRITE);
      if (perms === 0) {
        return fault(phb, req, pe, 'TCE_INVALID', {
          tve: tveIndex,
          level,
          tceAddr: BigInt(addr),
          tce: (BigInt(hi) << 32n) | BigInt(lo),
        });
      }
      const frame = toFrame(lo & TCE_ADDR_LO_MASK, hi & TCE_ADDR_HI_MASK);
      if (level > 0) base = frame * 4096;
      else out = frame - (frame % pageFrames);
    }
    entry = out * 4 + perms;
    phb.tceCache.set(pe, key, entry);
  }
  const granted = entry % 4;
  if (req.write ? !(granted & TCE_PCI_WRITE) : !(granted & TCE_PCI_READ)) {
    return fault(phb, req, pe, 'PERMISSION', { tve: tveIndex, tceRead: (granted & TCE_PCI_READ) !== 0, tceWrite: (granted & TCE_PCI_WRITE) !== 0 });
  }
  return (entry - granted) / 4 + (off % pageFrames);
}

/** `base | offset` for a level of `span` bytes (the PHB ORs the index in; aligned tables make it an add). */
function orIndex(base: number, offset: number, span: number): number {
  if (base % span === 0) return base + offset;
  return Number(BigInt(base) | BigInt(offset));
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
