import {
  PROT_READ,
  PROT_WRITE,
  frameHi,
  frameLo,
  toFrame,
  type DecodedEntry,
  type EntryKind,
  type PtFormat,
  dirtyByPattern,
  type DirtyPattern,
} from '@ioasid/core';
import { ADDR_HI_MASK, ADDR_LO_MASK, VTD_HAW, hiAboveHaw, LEVEL_NAMES, VTD_LEVEL_BITS, VTD_PAGE_SHIFT } from './pte-common.js';

const INV_2_20 = 1 / 0x100000;

/**
 * VT-d second-level (second-stage) paging entry, as Linux drivers/iommu/intel/iommu.h
 * (DMA_PTE_READ/WRITE/LARGE_PAGE/SNP) and QEMU hw/i386/intel_iommu_internal.h (VTD_SL_R, VTD_SL_W,
 * VTD_PT_PAGE_SIZE_MASK, VTD_SL_IGN_COM, VTD_SL_TM, VTD_SPTE_SNP) define it.
 */
export const SL_R = 1 << 0;
export const SL_W = 1 << 1;
/** Execute, only meaningful with SLEE in the PASID entry. */
export const SL_X = 1 << 2;
/** Extended memory type (bits 5:3) and ignore-PAT (bit 6), used only with EMTE. */
export const SL_EMT_SHIFT = 3;
export const SL_EMT_MASK = 0x7 << SL_EMT_SHIFT;
export const SL_IPAT = 1 << 6;
/** Page size: a leaf at the PDE (2 MiB) or PDPE (1 GiB) level. */
export const SL_PS = 1 << 7;
/**
 * Accessed (every entry) and dirty (leaves), written by the hardware only when the PASID entry's
 * SSADE is set on a unit with ECAP.SSADS (VT-d spec, second-stage paging entries; Linux
 * DMA_SL_PTE_DIRTY_BIT = 9); ignored otherwise.
 */
export const SL_A = 1 << 8;
export const SL_D = 1 << 9;
export const SL_SNP = 1 << 11;
/** Bit 62 (transient mapping), in the high word. */
export const SL_TM_HI = 1 << 30;

/** Second-level levels for an adjusted guest address width: 39 → 3, 48 → 4, 57 → 5. */
export function slLevelsForWidth(aw: number): 3 | 4 | 5 {
  if (aw === 39) return 3;
  if (aw === 48) return 4;
  if (aw === 57) return 5;
  throw new Error(`no second-level table for address width ${aw}`);
}

/** The PASID entry's AW field: levels − 2 (QEMU VTD_PE_GET_SL_LEVEL). */
export function slAwField(levels: number): number {
  return levels - 2;
}

/**
 * Reserved bits of a second-level entry, low and high words, as QEMU's VTD_SPTE_*_RSVD_MASK
 * give them for a unit with snoop control: above HAW; TM (bit 62); SNP (bit 11) in non-leaf
 * entries; PS at PML4/PML5; bits 20:12 / 29:12 below a 2 MiB / 1 GiB page.
 */
export function slReservedLo(level: number, leaf: boolean): number {
  if (leaf) return level === 1 ? 0x001ff000 : level === 2 ? 0x3ffff000 : 0;
  return level >= 3 ? SL_SNP | SL_PS : SL_SNP;
}

export function slReservedHi(haw: number): number {
  return (hiAboveHaw(haw) | SL_TM_HI) >>> 0;
}

export interface SecondLevelOptions {
  levels: 3 | 4 | 5;
  /** CAP_REG.SLLPS: bit 0 = 2 MiB, bit 1 = 1 GiB leaves. */
  sllps?: number;
  haw?: number;
}

export class SecondLevelFormat implements PtFormat {
  readonly name: string;
  readonly levels: number;
  readonly pageShift = VTD_PAGE_SHIFT;
  readonly bigEndian = false;
  readonly sllps: number;
  readonly haw: number;
  /** Entries hold host addresses below 2^HAW: bits 51:HAW of the address field are reserved (QEMU VTD_HAW_MASK in VTD_SPTE_*_RSVD_MASK). */
  readonly outputBits: number;
  private readonly rsvdHi: number;
  /** Per level, decoded once from the rules above: whether a leaf may sit there, and the reserved low-word bits of a leaf and of a table entry. */
  private readonly leafOk: boolean[] = [];
  private readonly rsvdLeafLo: number[] = [];
  private readonly rsvdTableLo: number[] = [];

  constructor(opts: SecondLevelOptions) {
    this.levels = opts.levels;
    this.sllps = opts.sllps ?? 0b11;
    this.haw = opts.haw ?? VTD_HAW;
    this.outputBits = this.haw;
    this.rsvdHi = slReservedHi(this.haw);
    this.name = `vtd-second-level-${this.levels}`;
    for (let l = 0; l < 5; l++) {
      const ok = l === 0 || (l <= 2 && ((this.sllps >> (l - 1)) & 1) === 1);
      this.leafOk.push(ok);
      this.rsvdLeafLo.push(slReservedLo(l, true));
      // PS in a table entry is reserved where the size is not supported (PML4E/PML5E always).
      this.rsvdTableLo.push((slReservedLo(l, false) | (l > 0 && !ok ? SL_PS : 0)) >>> 0);
    }
  }

  levelBits(): number {
    return VTD_LEVEL_BITS;
  }

  /** VT-d numbers levels from the leaf up, 1 = PTE … 5 = PML5E (Linux pfn_to_dma_pte's `level`). */
  specLevel(level: number): number {
    return level + 1;
  }

  leafAllowed(level: number): boolean {
    return this.leafOk[level] === true;
  }

  isLeaf(lo: number, level: number): boolean {
    return level === 0 || ((lo & SL_PS) !== 0 && this.leafOk[level]);
  }

  kind(w: Uint32Array, i: number, level: number): EntryKind {
    const lo = w[i];
    if ((lo & (SL_R | SL_W)) === 0) return 0 as EntryKind;
    return (this.isLeaf(lo, level) ? 2 : 1) as EntryKind;
  }

  outFrame(w: Uint32Array, i: number): number {
    return toFrame(w[i] & ADDR_LO_MASK, w[i + 1] & ADDR_HI_MASK);
  }

  perms(w: Uint32Array, i: number): number {
    const lo = w[i];
    return (lo & SL_R ? PROT_READ : 0) | (lo & SL_W ? PROT_WRITE : 0);
  }

  setTable(w: Uint32Array, i: number, _level: number, childFrame: number): void {
    // Linux writes R|W on every non-leaf entry; the leaves decide the access.
    w[i] = (frameLo(childFrame) | SL_R | SL_W) >>> 0;
    w[i + 1] = frameHi(childFrame);
  }

  setLeaf(w: Uint32Array, i: number, level: number, frame: number, prot: number): void {
    // frameLo and frameHi written out, with the bits of this module's own constants: a leaf per
    // page of every map, and each imported binding or call here cost about a nanosecond per page.
    const bits = ((prot & 1) !== 0 ? SL_R : 0) | ((prot & 2) !== 0 ? SL_W : 0) | (level > 0 ? SL_PS : 0);
    w[i] = (((frame & 0xfffff) << 12) | bits) >>> 0;
    w[i + 1] = (frame - (frame & 0xfffff)) * INV_2_20;
  }

  clear(w: Uint32Array, i: number): void {
    w[i] = 0;
    w[i + 1] = 0;
  }

  /** A leaf that logged a write: D set (Linux dma_sl_pte_test_and_clear_dirty's test). */
  readonly dirtyPattern: DirtyPattern = { loMask: SL_D, loValue: SL_D, hiMask: 0, hiValue: 0 };

  dirty(w: Uint32Array, i: number): boolean {
    return dirtyByPattern(this.dirtyPattern, w, i);
  }

  /** Clears the leaf's D (A is left as the hardware set it, as Linux leaves it). */
  clearDirty(w: Uint32Array, i: number): void {
    w[i] = (w[i] & ~SL_D) >>> 0;
  }

  /** Whether a present entry sets a reserved bit (QEMU vtd_slpte_nonzero_rsvd). */
  reserved(lo: number, hi: number, level: number): boolean {
    return this.reservedAs(lo, hi, level, this.isLeaf(lo, level));
  }

  /** reserved() for an entry already known to be a leaf or not (isLeaf), as the walker has it. */
  reservedAs(lo: number, hi: number, level: number, leaf: boolean): boolean {
    // A table entry with PS where SLLPS lacks the size has PS reserved (rsvdTableLo).
    return ((lo & (leaf ? this.rsvdLeafLo[level] : this.rsvdTableLo[level])) | (hi & this.rsvdHi)) !== 0;
  }

  decode(lo: number, hi: number, level: number): DecodedEntry {
    const present = (lo & (SL_R | SL_W)) !== 0;
    const fields: DecodedEntry['fields'] = {
      level: LEVEL_NAMES[level] ?? `L${level + 1}`,
      R: (lo & SL_R) !== 0,
      W: (lo & SL_W) !== 0,
      X: (lo & SL_X) !== 0,
      EMT: (lo & SL_EMT_MASK) >>> SL_EMT_SHIFT,
      IPAT: (lo & SL_IPAT) !== 0,
      PS: (lo & SL_PS) !== 0,
      A: (lo & SL_A) !== 0,
      D: (lo & SL_D) !== 0,
      SNP: (lo & SL_SNP) !== 0,
      TM: (hi & SL_TM_HI) !== 0,
    };
    if (!present) return { kind: 'empty', fields };
    const addr = (BigInt(hi & ADDR_HI_MASK) << 32n) | BigInt((lo & ADDR_LO_MASK) >>> 0);
    fields.ADDR = addr;
    if (this.reserved(lo, hi, level)) return { kind: 'invalid', addr, fields };
    return { kind: this.isLeaf(lo, level) ? 'leaf' : 'table', addr, fields };
  }
}
