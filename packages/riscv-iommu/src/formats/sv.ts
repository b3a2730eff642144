import { EntryKind, PROT_READ, PROT_WRITE, dirtyByPattern, fail, type DecodedEntry, type DirtyPattern, type PtFormat } from '@ioasid/core';
import type { SvMode } from '../tables/atp.js';
import { PTE_A, PTE_D, PTE_R, PTE_U, PTE_V, PTE_W, PTE_X, SV_OUTPUT_BITS, pteIsLeaf, pteMalformed, ptePpn, ppnHi, ppnLo } from './sv-pte.js';

/** V, R, U and A: what every leaf the kernel writes has. */
const LEAF_BITS = PTE_V | PTE_R | PTE_U | PTE_A;
const INV_2_22 = 1 / 0x400000;

/**
 * Sv39 / Sv48 / Sv57 (first stage) and Sv39x4 / Sv48x4 / Sv57x4 (G-stage) on core's radix engine.
 * Levels are numbered as the Sv walk numbers them: level 0 holds the 4 KiB leaves. The x4 variants
 * widen the root by 2 bits: 2048 entries, a 16 KiB root of four concatenated pages (privileged
 * spec §9.5.1), which the engine allocates aligned to its size.
 */
export class SvFormat implements PtFormat {
  readonly name: string;
  readonly levels: number;
  readonly pageShift = 12;
  readonly bigEndian = false;
  readonly outputBits = SV_OUTPUT_BITS;

  /** What a writable leaf adds to LEAF_BITS: W, and D unless writes are being logged. */
  private writeBits = PTE_W | PTE_D;
  private logging = false;

  constructor(
    readonly mode: SvMode,
    readonly x4: boolean,
    logDirty = false,
  ) {
    if (mode !== 39 && mode !== 48 && mode !== 57) fail('EINVAL', `Sv mode must be 39, 48 or 57 (got ${String(mode)})`);
    this.levels = (mode - 12) / 9;
    this.name = `sv${mode}${x4 ? 'x4' : ''}`;
    this.logDirty = logDirty;
  }

  /**
   * Dirty logging: writable leaves are written with D clear, for the unit to set (DC.tc.GADE with
   * capabilities.AMO_HWAD, spec §2.6); `dirty` / `clearDirty` read and re-arm the log.
   */
  get logDirty(): boolean {
    return this.logging;
  }

  set logDirty(on: boolean) {
    this.logging = on;
    this.writeBits = PTE_W | (on ? 0 : PTE_D);
  }

  /** Input address bits: 39/48/57, two more for the G-stage. */
  get inputBits(): number {
    return this.mode + (this.x4 ? 2 : 0);
  }

  levelBits(level: number): number {
    return this.x4 && level === this.levels - 1 ? 11 : 9;
  }

  /** The kernel and the guest helper build 4 KiB, 2 MiB and 1 GiB leaves (the walker accepts a leaf at any level). */
  leafAllowed(level: number): boolean {
    return level <= 2;
  }

  kind(w: Uint32Array, i: number): EntryKind {
    const lo = w[i];
    if ((lo & PTE_V) === 0) return EntryKind.Empty;
    return pteIsLeaf(lo) ? EntryKind.Leaf : EntryKind.Table;
  }

  outFrame(w: Uint32Array, i: number): number {
    return ptePpn(w[i], w[i + 1]);
  }

  perms(w: Uint32Array, i: number): number {
    const lo = w[i];
    if (!pteIsLeaf(lo)) return PROT_READ | PROT_WRITE;
    return ((lo & PTE_R) !== 0 ? PROT_READ : 0) | ((lo & PTE_W) !== 0 ? PROT_WRITE : 0);
  }

  setTable(w: Uint32Array, i: number, _level: number, childFrame: number): void {
    w[i] = (ppnLo(childFrame) | PTE_V) >>> 0;
    w[i + 1] = ppnHi(childFrame);
  }

  /**
   * A leaf as Linux's RISC-V page tables write it for an IOMMU mapping: U set (device requests are
   * user-mode, and G-stage leaves must have U), A preset, D preset on writable pages so the walker
   * never needs to update them.
   */
  setLeaf(w: Uint32Array, i: number, _level: number, frame: number, prot: number): void {
    // ppnLo and ppnHi written out (a leaf per page of every map: no call, no imported binding per entry).
    w[i] = (((frame & 0x3fffff) << 10) | LEAF_BITS | ((prot & PROT_WRITE) !== 0 ? this.writeBits : 0)) >>> 0;
    w[i + 1] = (frame - (frame & 0x3fffff)) * INV_2_22;
  }

  /** V and D set: what a dirty leaf's low word has (dirty() then checks that it is a leaf). */
  readonly dirtyPattern: DirtyPattern = { loMask: PTE_V | PTE_D, loValue: PTE_V | PTE_D, hiMask: 0, hiValue: 0 };

  dirty(w: Uint32Array, i: number): boolean {
    return dirtyByPattern(this.dirtyPattern, w, i) && pteIsLeaf(w[i]);
  }

  clearDirty(w: Uint32Array, i: number): void {
    w[i] = (w[i] & ~PTE_D) >>> 0;
  }

  clear(w: Uint32Array, i: number): void {
    w[i] = 0;
    w[i + 1] = 0;
  }

  decode(lo: number, hi: number): DecodedEntry {
    return decodeSvPte(lo, hi);
  }
}

export function decodeSvPte(lo: number, hi: number): DecodedEntry {
  const v = (lo & PTE_V) !== 0;
  const addr = BigInt(ptePpn(lo, hi)) << 12n;
  const fields = {
    V: v,
    R: (lo & PTE_R) !== 0,
    W: (lo & PTE_W) !== 0,
    X: (lo & PTE_X) !== 0,
    U: (lo & PTE_U) !== 0,
    G: (lo & (1 << 5)) !== 0,
    A: (lo & PTE_A) !== 0,
    D: (lo & PTE_D) !== 0,
    RSW: (lo >>> 8) & 3,
    PPN: BigInt(ptePpn(lo, hi)),
    PBMT: (hi >>> 29) & 3,
    N: (hi >>> 31) !== 0,
  };
  if (!v) return { kind: 'empty', fields };
  if (pteMalformed(lo, hi)) return { kind: 'invalid', addr, fields };
  return { kind: pteIsLeaf(lo) ? 'leaf' : 'table', addr, fields };
}

const cache = new Map<string, SvFormat>();

/** The shared format instance of a mode (first stage, or G-stage with `x4`; `logDirty`: leaves written with D clear). */
export function svFormat(mode: SvMode, x4 = false, logDirty = false): SvFormat {
  const key = `${mode}${x4 ? 'x4' : ''}${logDirty ? 'd' : ''}`;
  let f = cache.get(key);
  if (!f) cache.set(key, (f = new SvFormat(mode, x4, logDirty)));
  return f;
}
