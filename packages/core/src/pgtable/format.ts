/**
 * A radix page-table format: the geometry and a handful
 * of entry functions. Level 0 holds the smallest leaves; level `levels - 1` is the top table.
 * Entry functions work on raw words: `w` is a chunk of host memory and `i` the index of the
 * entry's first 32-bit word (entries are 64 bits: words i and i+1 as the CPU stores them, so a
 * big-endian format byte-swaps inside these functions).
 */
export const EntryKind = {
  Empty: 0,
  Table: 1,
  Leaf: 2,
} as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

/** Access rights asked of or granted by an entry. */
export const PROT_READ = 1;
export const PROT_WRITE = 2;

export interface DecodedEntry {
  kind: 'empty' | 'table' | 'leaf' | 'invalid';
  /** Output (table or page) physical address. */
  addr?: bigint;
  /** Every named field, as the format's specification names it. */
  fields: Record<string, bigint | number | boolean | string>;
}

export interface PtFormat {
  readonly name: string;
  /** Number of levels of this instance (the walk starts at level `levels - 1`). */
  readonly levels: number;
  /** log2 of the level-0 leaf size (12 for 4 KiB, 14, 16, 21, 24 … for TCE page sizes). */
  readonly pageShift: number;
  /** Index bits consumed at `level`. */
  levelBits(level: number): number;
  /** Whether a leaf may sit at `level` (level 0 always may). */
  leafAllowed(level: number): boolean;
  /** Whether entries are stored big-endian in memory. */
  readonly bigEndian: boolean;
  /**
   * Width in bits of the output addresses an entry can hold (VT-d HAW, LPAE OAS, the TCE RPN
   * field). The engine refuses with ERANGE, before writing, a leaf or table address at or above
   * 2^outputBits: an address is never truncated into an entry. Absent: 52 bits.
   */
  readonly outputBits?: number;

  kind(w: Uint32Array, i: number, level: number): EntryKind;
  /** Output address of a table or leaf entry, in 4 KiB frames. */
  outFrame(w: Uint32Array, i: number, level: number): number;
  /** PROT_READ | PROT_WRITE granted by a leaf (or allowed below a table entry). */
  perms(w: Uint32Array, i: number, level: number): number;
  setTable(w: Uint32Array, i: number, level: number, childFrame: number): void;
  setLeaf(w: Uint32Array, i: number, level: number, frame: number, prot: number): void;
  clear(w: Uint32Array, i: number, level: number): void;
  decode(lo: number, hi: number, level: number): DecodedEntry;
  /** Dirty tracking: whether the leaf records a write, and clearing that record. */
  dirty?(w: Uint32Array, i: number, level: number): boolean;
  /**
   * What every dirty level-0 leaf's two words as stored have in common, as bit patterns:
   * (w[i] & loMask) === loValue && (w[i + 1] & hiMask) === hiValue. Harvests test whole leaf
   * tables with it inline and ask `dirty` only where it holds, so `dirty` must never say true
   * where it does not (build `dirty` from it with `dirtyByPattern`; the engine suite checks).
   */
  readonly dirtyPattern?: DirtyPattern;
  clearDirty?(w: Uint32Array, i: number, level: number): void;
  /**
   * The specification's own number for engine level `level`: VT-d 5..1 for
   * PML5E..PTE, LPAE lookup level 0..3 from the start level down, TCE levels from the TVE down.
   * Absent: the engine level (level 0 holds the smallest leaves), as RISC-V Sv numbers its walk.
   */
  specLevel?(level: number): number;
}

/** A level-0 leaf's dirty state as masks and values of its low and high words (PtFormat.dirtyPattern). */
export interface DirtyPattern {
  readonly loMask: number;
  readonly loValue: number;
  readonly hiMask: number;
  readonly hiValue: number;
}

/** The dirty test a pattern states, for a format's `dirty` (level-0 leaves; a format adds its own test above). */
export function dirtyByPattern(p: DirtyPattern, w: Uint32Array, i: number): boolean {
  return (w[i] & p.loMask) >>> 0 === p.loValue && (w[i + 1] & p.hiMask) >>> 0 === p.hiValue;
}

/** What the format's specification calls engine level `level` (the engine level when it does not say). */
export function specLevelOf(fmt: PtFormat, level: number): number {
  return fmt.specLevel ? fmt.specLevel(level) : level;
}

/** Default output width when a format does not state one (the widest any modelled format holds). */
export const DEFAULT_OUTPUT_BITS = 52;

/** First 4 KiB frame an entry of `fmt` cannot address. */
export function outputFrameLimit(fmt: PtFormat): number {
  return 2 ** ((fmt.outputBits ?? DEFAULT_OUTPUT_BITS) - 12);
}

/** log2 of the span one entry at `level` covers. */
export function entryShift(fmt: PtFormat, level: number): number {
  let s = fmt.pageShift;
  for (let l = 0; l < level; l++) s += fmt.levelBits(l);
  return s;
}

/** Bytes of a table at `level` (one or more 4 KiB frames; TCE levels and concatenated LPAE tops exceed one frame). */
export function tableBytes(fmt: PtFormat, level: number): number {
  return 8 * 2 ** fmt.levelBits(level);
}

export function tableFrames(fmt: PtFormat, level: number): number {
  return Math.max(1, Math.ceil(tableBytes(fmt, level) / 4096));
}

/** Input address bits the whole table translates. */
export function inputBits(fmt: PtFormat): number {
  return entryShift(fmt, fmt.levels - 1) + fmt.levelBits(fmt.levels - 1);
}

/** Reads the raw 64-bit value of an entry as stored, honouring the format's endianness. */
export function rawEntry(fmt: PtFormat, w: Uint32Array, i: number): bigint {
  if (fmt.bigEndian) return (BigInt(bswap32(w[i])) << 32n) | BigInt(bswap32(w[i + 1]));
  return (BigInt(w[i + 1]) << 32n) | BigInt(w[i]);
}

/** The entry's low and high 32-bit halves of its 64-bit value. */
export function entryHalves(fmt: PtFormat, w: Uint32Array, i: number): [lo: number, hi: number] {
  return fmt.bigEndian ? [bswap32(w[i + 1]), bswap32(w[i])] : [w[i], w[i + 1]];
}

export function bswap32(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

/** Splits a frame number into the (lo, hi) words of a byte address `frame << 12`. */
export function frameLo(frame: number): number {
  return ((frame & 0xfffff) << 12) >>> 0;
}
/** `& 0xfffff` is exact for any safe integer (ToInt32 keeps the low bits), and scaling by a power of two is exact. */
export function frameHi(frame: number): number {
  return (frame - (frame & 0xfffff)) * INV_2_20;
}
const INV_2_20 = 1 / 0x100000;
/** Frame number from an entry's address bits: `lo` masked to bits 31:12 and `hi` bits 63:32 (already masked). */
export function toFrame(lo: number, hi: number): number {
  return hi * 0x100000 + (lo >>> 12);
}
