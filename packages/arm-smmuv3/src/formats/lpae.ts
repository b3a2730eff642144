import { EntryKind, PROT_READ, PROT_WRITE, fail, frameHi, frameLo, type DecodedEntry, type DirtyPattern, type PtFormat } from '@ioasid/core';
import {
  AF,
  DESC_TYPE_BLOCK,
  DESC_TYPE_MASK,
  DESC_TYPE_PAGE,
  DESC_TYPE_TABLE,
  HI_APTABLE_NO_EL0,
  HI_APTABLE_RDONLY,
  HI_CONT,
  HI_DBM,
  HI_NSTABLE,
  HI_PXNTABLE,
  HI_S1_PXN,
  HI_S1_UXN,
  HI_S2_XN_MASK,
  HI_S2_XN_SHIFT,
  HI_XNTABLE,
  OA_HI_MASK,
  S1_AP_RDONLY,
  S1_AP_UNPRIV,
  S1_ATTRINDX_MASK,
  S1_ATTRINDX_SHIFT,
  S1_NG,
  S1_NS,
  S2_AP_READ,
  S2_AP_WRITE,
  S2_MEMATTR_MASK,
  S2_MEMATTR_OIWB,
  S2_MEMATTR_SHIFT,
  SH_IS,
  SH_MASK,
  SH_SHIFT,
  descOutAddr,
} from './lpae-fields.js';
import {
  blockAllowed,
  levelBits as geoLevelBits,
  stage1Geometry,
  stage2Geometry,
  type Granule,
  type LpaeGeometry,
} from './lpae-geometry.js';
import { LPAE_DIRTY, lpaeIsDirty, lpaeSetClean } from './lpae-dirty.js';

/** Output address bits of a VMSAv8-64 descriptor without FEAT_LPA (OA[47:granule]). */
export const LPAE_OA_BITS = 48;

/** MAIR index Linux uses for cacheable memory (ARM_LPAE_MAIR_ATTR_IDX_CACHE). */
export const MAIR_IDX_CACHE = 1;
/**
 * MAIR Linux programs for stage 1 (arm_64_lpae_alloc_pgtable_s1): index 0 NC (0x44), 1 WBRWA
 * (0xff), 2 device nGnRE (0x04), 3 inner-NC outer-WBRWA (0xf4).
 */
export const LINUX_MAIR = 0xf404ff44n;

const INV_2_20 = 1 / 0x100000;

/**
 * VMSAv8-64 stage 1 or stage 2 tables as a core radix format. Engine level 0 is LPAE level 3
 * (the page level); engine level `levels − 1` is the start level.
 */
export class LpaeFormat implements PtFormat {
  readonly name: string;
  readonly levels: number;
  readonly pageShift: number;
  readonly bigEndian = false;
  private readonly addrLoMask: number;
  /** 4 KiB frames per granule (an output frame must be a multiple). */
  private readonly granuleFrames: number;
  /** Low-word attribute bits of a leaf, at [(page ? 0 : 4) + prot] (computed once; see setLeaf). */
  private readonly leafAttrs: readonly number[];

  /**
   * Output address width an entry may hold (core refuses a larger address with ERANGE before
   * writing): the OAS (SMMU_IDR5.OAS) for tables whose output is a PA, the IPA size for a guest's
   * stage 1. At most 48: these are descriptors without FEAT_LPA, whose OA field ends at bit 47.
   */
  readonly outputBits: number;

  /**
   * Dirty logging (the owner's table only; a domain has its own instance): writable leaves are
   * written writable-clean (DBM set, write permission bit read-only), as Linux io-pgtable-arm
   * does under IO_PGTABLE_QUIRK_ARM_HD, and a DBM leaf counts as writable.
   */
  trackDirty = false;

  constructor(
    readonly geometry: LpaeGeometry,
    readonly stage: 1 | 2,
    outputBits = LPAE_OA_BITS,
  ) {
    if (!Number.isInteger(outputBits) || outputBits < 32 || outputBits > LPAE_OA_BITS) {
      fail('EINVAL', `an LPAE output size of ${String(outputBits)} bits is not one of 32..${LPAE_OA_BITS}`);
    }
    this.outputBits = outputBits;
    this.name = `arm-lpae-s${stage}-${geometry.granule / 1024}k`;
    this.levels = geometry.levels;
    this.pageShift = geometry.gshift;
    this.addrLoMask = (0xffffffff - (geometry.granule - 1)) >>> 0;
    this.granuleFrames = geometry.granule / 4096;
    this.leafAttrs = [0, 1].flatMap((block) => [0, 1, 2, 3].map((prot) => this.leafAttrBits(block === 0, prot)));
  }

  /** A leaf's low-word attributes, as Linux arm_lpae_prot_to_pte + arm_lpae_init_pte write them (IOMMU_CACHE set). */
  private leafAttrBits(page: boolean, prot: number): number {
    let lo = (page ? DESC_TYPE_PAGE : DESC_TYPE_BLOCK) | AF | (SH_IS << SH_SHIFT);
    if (this.stage === 1) {
      lo |= S1_NG | S1_AP_UNPRIV | (MAIR_IDX_CACHE << S1_ATTRINDX_SHIFT);
      if (!(prot & PROT_WRITE) && prot & PROT_READ) lo |= S1_AP_RDONLY;
    } else {
      lo |= S2_MEMATTR_OIWB << S2_MEMATTR_SHIFT;
      if (prot & PROT_READ) lo |= S2_AP_READ;
      if (prot & PROT_WRITE) lo |= S2_AP_WRITE;
    }
    return lo;
  }

  get granule(): Granule {
    return this.geometry.granule;
  }

  /** LPAE level of an engine level. */
  lpaeLevel(level: number): number {
    return 3 - level;
  }

  /** The lookup level (0–3, the start level down to the page level 3) of an engine level. */
  specLevel(level: number): number {
    return 3 - level;
  }

  levelBits(level: number): number {
    return geoLevelBits(this.geometry, 3 - level);
  }

  leafAllowed(level: number): boolean {
    return level === 0 || blockAllowed(this.geometry.granule, 3 - level);
  }

  kind(w: Uint32Array, i: number, level: number): EntryKind {
    const t = w[i] & DESC_TYPE_MASK;
    if (level === 0) return t === DESC_TYPE_PAGE ? EntryKind.Leaf : EntryKind.Empty;
    if (t === DESC_TYPE_TABLE) return EntryKind.Table;
    if (t === DESC_TYPE_BLOCK && this.leafAllowed(level)) return EntryKind.Leaf;
    return EntryKind.Empty;
  }

  outFrame(w: Uint32Array, i: number, _level: number): number {
    return (w[i + 1] & OA_HI_MASK) * 0x100000 + ((w[i] & this.addrLoMask) >>> 12);
  }

  perms(w: Uint32Array, i: number, level: number): number {
    const lo = w[i];
    const isTable = level > 0 && (lo & DESC_TYPE_MASK) === DESC_TYPE_TABLE;
    const dbmWrite = this.trackDirty && !isTable && (w[i + 1] & HI_DBM) !== 0 ? PROT_WRITE : 0;
    if (this.stage === 1) {
      if (isTable) return (w[i + 1] & HI_APTABLE_RDONLY) !== 0 ? PROT_READ : PROT_READ | PROT_WRITE;
      return (lo & S1_AP_RDONLY ? PROT_READ : PROT_READ | PROT_WRITE) | dbmWrite;
    }
    if (isTable) return PROT_READ | PROT_WRITE;
    return (lo & S2_AP_READ ? PROT_READ : 0) | (lo & S2_AP_WRITE ? PROT_WRITE : 0) | dbmWrite;
  }

  setTable(w: Uint32Array, i: number, _level: number, childFrame: number): void {
    w[i] = (frameLo(childFrame) | DESC_TYPE_TABLE) >>> 0;
    w[i + 1] = frameHi(childFrame);
  }

  /** A leaf as Linux arm_lpae_prot_to_pte + arm_lpae_init_pte write it (IOMMU_CACHE set). */
  setLeaf(w: Uint32Array, i: number, level: number, frame: number, prot: number): void {
    if (this.granuleFrames !== 1 && frame % this.granuleFrames !== 0) {
      fail('EINVAL', `output frame 0x${frame.toString(16)} is not aligned to the ${this.geometry.granule / 1024}K granule`);
    }
    // frameLo and frameHi written out (a leaf per page of every map: no imported call per entry).
    w[i] = (((frame & 0xfffff) << 12) | this.leafAttrs[(level === 0 ? 0 : 4) + (prot & 3)]) >>> 0;
    w[i + 1] = (frame - (frame & 0xfffff)) * INV_2_20;
    if (this.trackDirty && (prot & PROT_WRITE) !== 0) {
      w[i + 1] = (w[i + 1] | HI_DBM) >>> 0;
      lpaeSetClean(this.stage, w, i);
    }
  }

  /** Dirty: a DBM leaf a hardware write made writable-dirty (Linux iopte_writeable_dirty). */
  get dirtyPattern(): DirtyPattern {
    return LPAE_DIRTY[this.stage];
  }

  dirty(w: Uint32Array, i: number, level: number): boolean {
    return lpaeIsDirty(this.stage, w, i, level);
  }

  /** Back to writable-clean (Linux iopte_set_writeable_clean). */
  clearDirty(w: Uint32Array, i: number, _level: number): void {
    lpaeSetClean(this.stage, w, i);
  }

  clear(w: Uint32Array, i: number, _level: number): void {
    w[i] = 0;
    w[i + 1] = 0;
  }

  decode(lo: number, hi: number, level: number): DecodedEntry {
    return decodeLpaeDescriptor(lo, hi, 3 - level, this.geometry.granule, this.stage);
  }
}

/** Decodes one descriptor at LPAE level `lpaeLevel` into its named fields (Arm ARM D8.3). */
export function decodeLpaeDescriptor(lo: number, hi: number, lpaeLevel: number, granule: Granule, stage: 1 | 2): DecodedEntry {
  const gshift = granule === 4096 ? 12 : granule === 16384 ? 14 : 16;
  const t = lo & DESC_TYPE_MASK;
  if ((t & 1) === 0) return { kind: (lo | hi) === 0 ? 'empty' : 'invalid', fields: { valid: false } };
  const addr = BigInt(descOutAddr(lo >>> 0, hi >>> 0, gshift));
  if (lpaeLevel < 3 && t === DESC_TYPE_TABLE) {
    const fields: DecodedEntry['fields'] = { type: 'table', nextTable: addr };
    if (stage === 1) {
      fields.NSTable = (hi & HI_NSTABLE) !== 0;
      fields.APTable = ((hi & HI_APTABLE_NO_EL0) !== 0 ? 1 : 0) | ((hi & HI_APTABLE_RDONLY) !== 0 ? 2 : 0);
      fields.XNTable = (hi & HI_XNTABLE) !== 0;
      fields.PXNTable = (hi & HI_PXNTABLE) !== 0;
    }
    return { kind: 'table', addr, fields };
  }
  const isPage = lpaeLevel === 3;
  if ((isPage && t !== DESC_TYPE_PAGE) || (!isPage && !blockAllowed(granule, lpaeLevel))) {
    return { kind: 'invalid', fields: { valid: true, type: 'reserved' } };
  }
  const fields: DecodedEntry['fields'] = {
    type: isPage ? 'page' : 'block',
    outputAddress: addr,
    SH: (lo >>> SH_SHIFT) & SH_MASK,
    AF: (lo & AF) !== 0,
    Contiguous: (hi & HI_CONT) !== 0,
    DBM: (hi & HI_DBM) !== 0,
  };
  if (stage === 1) {
    fields.AttrIndx = (lo >>> S1_ATTRINDX_SHIFT) & S1_ATTRINDX_MASK;
    fields.NS = (lo & S1_NS) !== 0;
    fields.AP = (lo >>> 6) & 3;
    fields.nG = (lo & S1_NG) !== 0;
    fields.PXN = (hi & HI_S1_PXN) !== 0;
    fields.UXN = (hi & HI_S1_UXN) !== 0;
  } else {
    fields.MemAttr = (lo >>> S2_MEMATTR_SHIFT) & S2_MEMATTR_MASK;
    fields.S2AP = (lo >>> 6) & 3;
    fields.XN = (hi >>> HI_S2_XN_SHIFT) & HI_S2_XN_MASK;
  }
  return { kind: 'leaf', addr, fields };
}

export function lpaeStage1Format(granule: Granule, ias: number, outputBits = LPAE_OA_BITS): LpaeFormat {
  return new LpaeFormat(stage1Geometry(granule, ias), 1, Math.min(outputBits, LPAE_OA_BITS));
}

export function lpaeStage2Format(granule: Granule, ias: number, outputBits = LPAE_OA_BITS): LpaeFormat {
  return new LpaeFormat(stage2Geometry(granule, ias), 2, Math.min(outputBits, LPAE_OA_BITS));
}
