import {
  EntryKind,
  fail,
  PROT_READ,
  PROT_WRITE,
  bswap32,
  frameHi,
  frameLo,
  toFrame,
  type DecodedEntry,
  type PtFormat,
} from '@ioasid/core';

/**
 * The TCE (translation control entry) as Linux PowerNV writes it (arch/powerpc/include/asm/tce.h,
 * arch/powerpc/platforms/powernv/pci-ioda-tce.c): a 64-bit big-endian doubleword holding the real
 * address of an IO page (or, in an indirect level, of the next level) plus two permission bits.
 */
export const TCE_ENTRY_SIZE = 8;
/** Device may read (DMA to the device). */
export const TCE_PCI_READ = 0x1;
/** Device may write; Linux always sets READ with it (pnv_tce_build / pnv_tce_xchg). */
export const TCE_PCI_WRITE = 0x2;
/** 40-bit real page number of a 4 KiB page: TCE_RPN_MASK << TCE_RPN_SHIFT covers bits 51:12. */
export const TCE_RPN_MASK = 0xffffffffffn;
export const TCE_RPN_SHIFT = 12;
/**
 * Width of the real address a TCE holds: the 40-bit RPN of a 4 KiB page, so addresses below 2^52
 * (asm/tce.h TCE_RPN_MASK, later TCE_RPN_BITS 52). The PHB4 fields that point at tables are wider
 * (PHB_RTT_BASE_ADDRESS: 56 bits, IODA3_TVT_TABLE_ADDR: 60 bits), so this is the binding limit.
 */
export const TCE_OUTPUT_BITS = 40 + TCE_RPN_SHIFT;
export const TCE_ADDR_MASK = TCE_RPN_MASK << BigInt(TCE_RPN_SHIFT);
/** The same field split into the 32-bit halves of the entry (entry functions, the PHB walker). */
export const TCE_ADDR_LO_MASK = 0xfffff000;
export const TCE_ADDR_HI_MASK = 0x000fffff;
const ADDR_LO_MASK = TCE_ADDR_LO_MASK;
const ADDR_HI_MASK = TCE_ADDR_HI_MASK;
const PERM_MASK = TCE_PCI_READ | TCE_PCI_WRITE;
/** EntryKind values as module constants (no property load, so no type feedback to miss). */
const KIND_EMPTY = EntryKind.Empty;
const KIND_LEAF = EntryKind.Leaf;
const KIND_TABLE = EntryKind.Table;

/** TCE permission bits for core PROT_* rights: WRITE implies READ, as Linux writes them. */
export function tcePerms(prot: number): number {
  if (prot & PROT_WRITE) return TCE_PCI_READ | TCE_PCI_WRITE;
  return prot & PROT_READ ? TCE_PCI_READ : 0;
}

/** A TCE value: the page (or next-level) address with the permission bits; an address the RPN field cannot hold is refused (ERANGE), never masked. */
export function encodeTce(addr: bigint, perms: number): bigint {
  if ((addr & ~TCE_ADDR_MASK) !== 0n) fail('ERANGE', `0x${addr.toString(16)} is not a 4 KiB-aligned real address below 2^${TCE_OUTPUT_BITS} (TCE_RPN_MASK)`);
  return addr | BigInt(perms & PERM_MASK);
}

export interface TceFields {
  addr: bigint;
  read: boolean;
  write: boolean;
  valid: boolean;
}

export function decodeTce(tce: bigint): TceFields {
  const perms = Number(tce & BigInt(PERM_MASK));
  return { addr: tce & TCE_ADDR_MASK, read: (perms & TCE_PCI_READ) !== 0, write: (perms & TCE_PCI_WRITE) !== 0, valid: perms !== 0 };
}

/** The eight bytes of a TCE as they sit in memory (big-endian). */
export function tceBytes(tce: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, tce, false);
  return out;
}

export interface TceGeometry {
  /** log2 of the IO page size (12, 16, 21, 30 on PHB4). */
  pageShift: number;
  /** Total number of levels (1..5). */
  levels: number;
  /** Index bits of every level (Linux uses one size for all levels: it_level_size). */
  levelBits: number;
}

const INV_2_20 = 1 / 0x100000;

/**
 * A TCE table as a radix format: leaves only at level 0, of the window's IO page size; every level
 * has the same number of entries and may span several contiguous 4 KiB frames.
 */
export class TceFormat implements PtFormat {
  readonly name: string;
  readonly levels: number;
  readonly pageShift: number;
  readonly bigEndian = true;
  /** Leaves and indirect TCEs alike hold real addresses below 2^52 (TCE_OUTPUT_BITS). */
  readonly outputBits = TCE_OUTPUT_BITS;
  private readonly bits: number;
  private readonly pageFrames: number;

  constructor(geo: TceGeometry) {
    this.levels = geo.levels;
    this.pageShift = geo.pageShift;
    this.bits = geo.levelBits;
    this.pageFrames = 2 ** (geo.pageShift - 12);
    this.name = `power-tce (${geo.levels} level${geo.levels > 1 ? 's' : ''}, ${2 ** geo.levelBits} TCEs/level, IO page 2^${geo.pageShift})`;
  }

  levelBits(): number {
    return this.bits;
  }

  /** TCE levels counted from the TVE down: 1 is the table the TVE points at, `levels` the TCEs that map IO pages. */
  specLevel(level: number): number {
    return this.levels - level;
  }

  leafAllowed(level: number): boolean {
    return level === 0;
  }

  kind(w: Uint32Array, i: number, level: number): EntryKind {
    // The permission bits are the low byte of the big-endian low word: the top byte of w[i + 1].
    // Both tests run every time, so code optimised while mapping (all entries empty) still has
    // type feedback when unmap meets leaves.
    const empty = ((w[i + 1] >>> 24) & PERM_MASK) === 0;
    const leaf = level === 0;
    return empty ? KIND_EMPTY : leaf ? KIND_LEAF : KIND_TABLE;
  }

  outFrame(w: Uint32Array, i: number, level: number): number {
    const f = toFrame(bswap32(w[i + 1]) & ADDR_LO_MASK, bswap32(w[i]) & ADDR_HI_MASK);
    // The PHB masks a leaf to the IO page (QEMU pnv_phb4_translate_tve: tce & tce_mask).
    return level === 0 ? f - (f % this.pageFrames) : f;
  }

  perms(w: Uint32Array, i: number): number {
    return (w[i + 1] >>> 24) & PERM_MASK;
  }

  setTable(w: Uint32Array, i: number, _level: number, childFrame: number): void {
    // Indirect TCEs carry both permission bits (pnv_pci_ioda2_table_do_alloc_pages).
    w[i] = bswap32(frameHi(childFrame));
    w[i + 1] = bswap32((frameLo(childFrame) | TCE_PCI_READ | TCE_PCI_WRITE) >>> 0);
  }

  setLeaf(w: Uint32Array, i: number, _level: number, frame: number, prot: number): void {
    // frameHi, frameLo, tcePerms and bswap32 written out (a TCE per page of every map: no
    // imported call per entry). Write implies read (TCE_PCI_READ | TCE_PCI_WRITE).
    const h = (frame - (frame & 0xfffff)) * INV_2_20;
    const l = ((frame & 0xfffff) << 12) | ((prot & 2) !== 0 ? 3 : prot & 1);
    w[i] = ((h << 24) | ((h & 0xff00) << 8) | ((h >>> 8) & 0xff00) | (h >>> 24)) >>> 0;
    w[i + 1] = ((l << 24) | ((l & 0xff00) << 8) | ((l >>> 8) & 0xff00) | (l >>> 24)) >>> 0;
  }

  clear(w: Uint32Array, i: number): void {
    w[i] = 0;
    w[i + 1] = 0;
  }

  decode(lo: number, hi: number, level: number): DecodedEntry {
    const perms = lo & PERM_MASK;
    // `>>> 0`: a 32-bit AND is signed, and bit 31 of either half is an address or ignored bit, not a sign.
    const addr = (BigInt(hi & ADDR_HI_MASK) << 32n) | BigInt((lo & ADDR_LO_MASK) >>> 0);
    const ignored = (BigInt((hi & ~ADDR_HI_MASK) >>> 0) << 32n) | BigInt(lo & ~ADDR_LO_MASK & ~PERM_MASK);
    const fields: DecodedEntry['fields'] = {
      read: (perms & TCE_PCI_READ) !== 0,
      write: (perms & TCE_PCI_WRITE) !== 0,
    };
    if (ignored !== 0n) fields.ignoredBits = `0x${ignored.toString(16)}`;
    if (perms === 0) return { kind: lo === 0 && hi === 0 ? 'empty' : 'invalid', fields };
    if (level > 0) {
      fields.nextLevel = `0x${addr.toString(16)}`;
      return { kind: 'table', addr, fields };
    }
    const pageAddr = addr & ~((1n << BigInt(this.pageShift)) - 1n);
    fields.rpn = pageAddr >> BigInt(this.pageShift);
    return { kind: 'leaf', addr: pageAddr, fields };
  }
}
