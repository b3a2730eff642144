import { EntryKind, PROT_READ, PROT_WRITE, dirtyByPattern, fail, frameHi, frameLo, toFrame, type DecodedEntry, type DirtyPattern, type PtFormat } from '@ioasid/core';

/**
 * The flat table: ONE level of 64-bit little-endian entries, one per 4 KiB input page.
 * The same entry is used by the kernel's stage-2 table (host memory) and by the guest's
 * stage-1 table (guest memory), as on most real IOMMUs where both stages share a descriptor.
 *
 *   bit  0      V     valid
 *   bit  1      R     read allowed
 *   bit  2      W     write allowed
 *   bits 5:3    -     ignored (software use)
 *   bit  6      D     dirty: the unit sets it in a stage-2 leaf when a write goes through a route
 *                     whose context / PASID entry has DT set (dirty tracking); the walker
 *                     ignores it otherwise, and a guest's stage-1 table never gets it
 *   bits 11:7   -     ignored (software use)
 *   bits 51:12  ADDR  output page address
 *   bits 63:52  RSVD  reserved: the walker faults (S1_RSVD / S2_RSVD) when any is set
 */
export const FLAT_V = 1 << 0;
export const FLAT_R = 1 << 1;
export const FLAT_W = 1 << 2;
/** Dirty: taken from the software-ignored bits 11:3 (bit 6, where an x86 PTE keeps its D bit). */
export const FLAT_D = 1 << 6;
/** A stage-2 leaf that logged a write: V and D set (the harvest's test, inline over whole tables). */
export const FLAT_DIRTY: DirtyPattern = { loMask: FLAT_V | FLAT_D, loValue: FLAT_V | FLAT_D, hiMask: 0, hiValue: 0 };
/** Reserved bits 63:52, as a mask of the entry's high 32-bit word. */
export const FLAT_RSVD_HI = 0xfff00000;
/** Address bits 51:32, as a mask of the entry's high word. */
export const FLAT_ADDR_HI = 0x000fffff;

/** The stage-2 (kernel-managed) table translates a 32-bit IOVA space: 2^20 entries, 8 MiB. */
export const S2_INPUT_BITS = 32;
/** Stage-1 (guest) tables translate up to 22 bits (1024 entries, two frames) and at least 13. */
export const S1_MAX_INPUT_BITS = 22;
export const S1_MIN_INPUT_BITS = 13;

/** The PtFormat core's radix engine uses to build, walk and dump a flat table of `inputBits`. */
export function flatFormat(inputBits: number): PtFormat {
  if (!Number.isInteger(inputBits) || inputBits < S1_MIN_INPUT_BITS || inputBits > S2_INPUT_BITS) {
    fail('EINVAL', `flat table input width must be ${S1_MIN_INPUT_BITS}..${S2_INPUT_BITS} bits (got ${String(inputBits)})`);
  }
  const bits = inputBits - 12;
  return {
    name: `flat-v1/${inputBits}`,
    levels: 1,
    pageShift: 12,
    bigEndian: false,
    levelBits: () => bits,
    leafAllowed: () => true,
    kind: (w, i) => ((w[i] & FLAT_V) !== 0 ? EntryKind.Leaf : EntryKind.Empty),
    outFrame: (w, i) => toFrame(w[i] & 0xfffff000, w[i + 1] & FLAT_ADDR_HI),
    perms: (w, i) => ((w[i] & FLAT_R) !== 0 ? PROT_READ : 0) | ((w[i] & FLAT_W) !== 0 ? PROT_WRITE : 0),
    setTable() {
      fail('EINVAL', 'a flat table has a single level: it holds no table entries');
    },
    setLeaf(w, i, _level, frame, prot) {
      w[i] = (frameLo(frame) | FLAT_V | (prot & PROT_READ ? FLAT_R : 0) | (prot & PROT_WRITE ? FLAT_W : 0)) >>> 0;
      w[i + 1] = frameHi(frame);
    },
    clear(w, i) {
      w[i] = 0;
      w[i + 1] = 0;
    },
    decode: decodeFlatEntry,
    // Dirty harvesting (GET_DIRTY_BITMAP): setLeaf writes D = 0, the unit sets it, the kernel clears it.
    dirtyPattern: FLAT_DIRTY,
    dirty: (w, i) => dirtyByPattern(FLAT_DIRTY, w, i),
    clearDirty(w, i) {
      w[i] = (w[i] & ~FLAT_D) >>> 0;
    },
  };
}

export function decodeFlatEntry(lo: number, hi: number): DecodedEntry {
  const valid = (lo & FLAT_V) !== 0;
  const rsvd = (hi & FLAT_RSVD_HI) !== 0;
  const addr = BigInt(toFrame(lo & 0xfffff000, hi & FLAT_ADDR_HI)) << 12n;
  return {
    kind: !valid ? 'empty' : rsvd ? 'invalid' : 'leaf',
    addr,
    fields: { V: valid, R: (lo & FLAT_R) !== 0, W: (lo & FLAT_W) !== 0, D: (lo & FLAT_D) !== 0, ADDR: addr, RSVD: BigInt(hi >>> 20) },
  };
}

/** Encodes one entry as the hardware reads it (for golden tests and the guest helpers). */
export function encodeFlatEntry(addr: bigint, read: boolean, write: boolean): bigint {
  return (addr & 0x000ffffffffff000n) | BigInt(FLAT_V) | (read ? BigInt(FLAT_R) : 0n) | (write ? BigInt(FLAT_W) : 0n);
}
