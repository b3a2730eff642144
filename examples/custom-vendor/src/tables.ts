/**
 * The flat IOMMU's configuration structures, as the hardware reads them from memory.
 * Everything is little-endian 64-bit words ("qwords").
 *
 * Context table (host memory, at CTX_BASE): 65536 entries of 32 bytes, indexed by RID.
 *   q0  bit  0      V      entry valid
 *       bits 3:1    TT     0 = blocked, 1 = stage 2 only, 2 = nested (stage 1 over stage 2)
 *       bit  4      DT     dirty tracking: a write through this entry sets D in its stage-2 leaf
 *                          (only on a unit whose CAP has DL; it applies to guest PASIDs too)
 *       bits 51:12  S2PTR  host address of the stage-2 flat table (32-bit input)
 *   q1  bit  0      S1V    a stage-1 table is bound (TT = 2)
 *       bits 6:1    S1IB   stage-1 input bits (13..22)
 *       bits 51:12  S1PTR  guest-physical address of the stage-1 flat table
 *   q2  bit  0      PTV    a PASID table is present
 *       bit  1      PTG    the PASID table is guest-owned (GPA, read through this entry's stage 2)
 *       bits 6:2    PTS    log2 of the number of PASID-table entries
 *       bits 51:12  PTPTR  PASID table address (host PA when PTG = 0, GPA when PTG = 1)
 *   q3  bits 15:0   DID    domain ID tagging IOTLB entries of requests without PASID
 *       bits 31:16  PDID   domain ID of translations made from a guest PASID table
 * Every other bit is reserved and makes the entry invalid (CTX_INVALID).
 *
 * Host-owned PASID table entry (32 bytes): q0 (with its own DT), q1 and q3.DID as in the
 * context entry; q2 = 0.
 * Guest-owned PASID table entry (8 bytes): bit 0 V, bits 6:1 S1IB, bits 51:12 S1PTR (GPA);
 * bits 11:7 and 63:52 reserved (PASID_RSVD).
 */
export const CTX_ENTRY_BYTES = 32;
export const HOST_PASID_ENTRY_BYTES = 32;
export const GUEST_PASID_ENTRY_BYTES = 8;
export const CTX_TABLE_ENTRIES = 65536;

export const TT_BLOCKED = 0;
export const TT_S2 = 1;
export const TT_NESTED = 2;

const ADDR = 0x000ffffffffff000n;
/** q0 bit 4 of a context or host PASID entry: dirty tracking on for the route. */
export const CTX_DT = 1n << 4n;

/** What a context or PASID entry says about one translation context. */
export interface TranslationEntry {
  valid: boolean;
  tt: number;
  /** Host frame of the stage-2 table. */
  s2Root: number;
  s1Valid: boolean;
  s1Bits: number;
  /** Guest frame of the stage-1 table. */
  s1Root: number;
  did: number;
  /** DT: writes through this entry set D in the stage-2 leaf they use. */
  dt: boolean;
}

export interface ContextEntry extends TranslationEntry {
  ptValid: boolean;
  ptGuest: boolean;
  ptLog2: number;
  /** Frame of the PASID table (host or guest, per ptGuest). */
  ptRoot: number;
  pasidDid: number;
}

export const EMPTY_CONTEXT: ContextEntry = {
  valid: false,
  tt: TT_BLOCKED,
  s2Root: 0,
  s1Valid: false,
  s1Bits: 0,
  s1Root: 0,
  did: 0,
  dt: false,
  ptValid: false,
  ptGuest: false,
  ptLog2: 0,
  ptRoot: 0,
  pasidDid: 0,
};

const Q0_RSVD = ~(ADDR | CTX_DT | 0xfn) & 0xffffffffffffffffn;
const Q1_RSVD = ~(ADDR | 0x7fn) & 0xffffffffffffffffn;
const Q2_RSVD = ~(ADDR | 0x7fn) & 0xffffffffffffffffn;
const Q3_RSVD = ~0xffffffffn & 0xffffffffffffffffn;
const GPE_RSVD = ~(ADDR | 0x7fn) & 0xffffffffffffffffn;

function frameOf(q: bigint): number {
  return Number((q & ADDR) >> 12n);
}

export function encodeContext(e: ContextEntry): bigint[] {
  if (!e.valid) return [0n, 0n, 0n, 0n];
  const q0 = 1n | (BigInt(e.tt) << 1n) | (e.dt ? CTX_DT : 0n) | (BigInt(e.s2Root) << 12n);
  const q1 = e.tt === TT_NESTED ? (e.s1Valid ? 1n : 0n) | (BigInt(e.s1Bits) << 1n) | (BigInt(e.s1Root) << 12n) : 0n;
  const q2 = e.ptValid ? 1n | (e.ptGuest ? 2n : 0n) | (BigInt(e.ptLog2) << 2n) | (BigInt(e.ptRoot) << 12n) : 0n;
  const q3 = BigInt(e.did) | (BigInt(e.pasidDid) << 16n);
  return [q0, q1, q2, q3];
}

/** Decodes a context entry, or null if a reserved bit is set. */
export function decodeContext(q: readonly bigint[]): ContextEntry | null {
  const [q0, q1, q2, q3] = q;
  if ((q0 & 1n) === 0n) return EMPTY_CONTEXT;
  if ((q0 & Q0_RSVD) || (q1 & Q1_RSVD) || (q2 & Q2_RSVD) || (q3 & Q3_RSVD)) return null;
  const tt = Number((q0 >> 1n) & 7n);
  if (tt > TT_NESTED) return null;
  return {
    valid: true,
    tt,
    s2Root: frameOf(q0),
    s1Valid: (q1 & 1n) !== 0n,
    s1Bits: Number((q1 >> 1n) & 0x3fn),
    s1Root: frameOf(q1),
    did: Number(q3 & 0xffffn),
    dt: (q0 & CTX_DT) !== 0n,
    ptValid: (q2 & 1n) !== 0n,
    ptGuest: (q2 & 2n) !== 0n,
    ptLog2: Number((q2 >> 2n) & 0x1fn),
    ptRoot: frameOf(q2),
    pasidDid: Number((q3 >> 16n) & 0xffffn),
  };
}

export function encodeHostPasidEntry(e: TranslationEntry): bigint[] {
  const [q0, q1, , q3] = encodeContext({ ...EMPTY_CONTEXT, ...e });
  return [q0, q1, 0n, q3 & 0xffffn];
}

export function decodeHostPasidEntry(q: readonly bigint[]): TranslationEntry | null {
  if ((q[0] & 1n) !== 0n && (q[2] !== 0n || (q[3] & ~0xffffn) !== 0n)) return null;
  return decodeContext(q);
}

export interface GuestPasidEntry {
  valid: boolean;
  s1Bits: number;
  s1Root: number;
}

export function encodeGuestPasidEntry(e: GuestPasidEntry): bigint {
  return e.valid ? 1n | (BigInt(e.s1Bits) << 1n) | (BigInt(e.s1Root) << 12n) : 0n;
}

/** Decodes a guest PASID-table entry, or null if a reserved bit is set. */
export function decodeGuestPasidEntry(q: bigint): GuestPasidEntry | null {
  if ((q & 1n) === 0n) return { valid: false, s1Bits: 0, s1Root: 0 };
  if (q & GPE_RSVD) return null;
  return { valid: true, s1Bits: Number((q >> 1n) & 0x3fn), s1Root: frameOf(q) };
}

export function qwordsToBytes(q: readonly bigint[]): Uint8Array {
  const out = new Uint8Array(q.length * 8);
  const view = new DataView(out.buffer);
  q.forEach((v, i) => view.setBigUint64(i * 8, v, true));
  return out;
}

export function bytesToQwords(b: Uint8Array): bigint[] {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: bigint[] = [];
  for (let i = 0; i + 8 <= b.length; i += 8) out.push(view.getBigUint64(i, true));
  return out;
}
