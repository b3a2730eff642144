import type { TraceFieldValue, TraceRead, WalkTracer } from '@ioasid/core';
import { blockAllowed, type LpaeGeometry } from '../formats/lpae-geometry.js';

/**
 * What a traced walk records for one VMSAv8-64 translation table descriptor (Arm ARM D8.3),
 * named as the Arm ARM names descriptors: 'level N table descriptor', 'level N block
 * descriptor', 'level 3 page descriptor', 'level N invalid descriptor' (bit 0 clear) and
 * 'level 3 reserved descriptor' (bits[1:0] = 0b01 at level 3). Only a traced walk calls these.
 */

const bit = (raw: bigint, n: number): number => Number((raw >> BigInt(n)) & 1n);
const bits = (raw: bigint, hi: number, lo: number): number => Number((raw >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));
const bin = (v: number, width: number): string => `0b${v.toString(2).padStart(width, '0')}`;

export function descriptorName(lvl: number, lo: number): string {
  if ((lo & 1) === 0) return `level ${lvl} invalid descriptor`;
  if (lvl === 3) return (lo & 3) === 3 ? 'level 3 page descriptor' : 'level 3 reserved descriptor';
  return (lo & 3) === 3 ? `level ${lvl} table descriptor` : `level ${lvl} block descriptor`;
}

/** Output or next-level table address: descriptor bits[51:granule], as the walker reads them. */
function addressBits(raw: bigint, gshift: number): bigint {
  return raw & ((1n << 52n) - 1n) & ~((1n << BigInt(gshift)) - 1n);
}

function descriptorFields(stage: 1 | 2, geo: LpaeGeometry, lvl: number, raw: bigint, lo: number): Record<string, TraceFieldValue> {
  if ((lo & 1) === 0 || (lvl === 3 && (lo & 3) === 1)) return {};
  if (lvl < 3 && (lo & 3) === 3) {
    const nlta = addressBits(raw, geo.gshift);
    if (stage === 2) return { NLTA: nlta };
    return { NLTA: nlta, PXNTable: bit(raw, 59), UXNTable: bit(raw, 60), APTable: bits(raw, 62, 61), NSTable: bit(raw, 63) };
  }
  // A block's output address bits below the block size are RES0 (the walker ignores them).
  const oa = addressBits(raw, geo.gshift) & ~(BigInt(geo.spans[lvl]) - 1n);
  const common = { SH: bits(raw, 9, 8), AF: bit(raw, 10), DBM: bit(raw, 51), Contiguous: bit(raw, 52) };
  if (stage === 1) return { OA: oa, AttrIndx: bits(raw, 4, 2), NS: bit(raw, 5), AP: bits(raw, 7, 6), ...common, nG: bit(raw, 11), PXN: bit(raw, 53), UXN: bit(raw, 54) };
  return { OA: oa, MemAttr: bits(raw, 5, 2), S2AP: bits(raw, 7, 6), ...common, XN: bits(raw, 54, 53) };
}

/** Records the descriptor read at `pa` and returns the record, whose `decided` the walk fills in. */
export function traceDescriptor(t: WalkTracer, stage: 1 | 2, geo: LpaeGeometry, lvl: number, index: number, pa: number, lo: number, hi: number): TraceRead {
  const raw = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  const r: TraceRead = {
    structure: descriptorName(lvl, lo),
    stage: stage === 1 ? 'stage 1' : 'stage 2',
    level: lvl,
    index,
    addr: BigInt(pa),
    raw: [raw],
    fields: descriptorFields(stage, geo, lvl, raw, lo),
  };
  t.read(r);
  return r;
}

/** Why the walk ended on, or went past, a descriptor that is not a usable leaf. */
export function invalidReason(geo: LpaeGeometry, lvl: number, lo: number): string {
  const type = bin(lo & 3, 2);
  if ((lo & 1) === 0) return `descriptor bits[1:0] = ${type} (invalid)`;
  if (lvl === 3) return `descriptor bits[1:0] = ${type} is reserved at level 3 (invalid)`;
  if (!blockAllowed(geo.granule, lvl)) return `descriptor bits[1:0] = ${type}: no block at level ${lvl} with the ${geo.granule / 1024}KB granule (invalid)`;
  return `descriptor bits[1:0] = ${type}`;
}

export function tableDecided(lvl: number, out: number): string {
  return `bits[1:0] = 0b11 (table): level ${lvl + 1} table at 0x${out.toString(16)}`;
}

export function leafDecided(lvl: number, out: number): string {
  return `bits[1:0] = ${lvl === 3 ? '0b11 (page)' : '0b01 (block)'}: OA 0x${out.toString(16)}`;
}

export function sizeDecided(what: 'NLTA' | 'OA', out: number, psBits: number): string {
  return `${what} 0x${out.toString(16)} is beyond the ${psBits}-bit output size (Address size fault)`;
}

export const AF_DECIDED = 'AF = 0 (Access flag fault; no hardware update of AF)';

/**
 * The field that forbids the access at the stage that failed (Arm ARM D8.4: AP[2:1] and APTable
 * at stage 1, S2AP at stage 2), written on the leaf the walk read.
 */
export function permissionDecided(leaf: TraceRead, stage: 1 | 2, write: boolean, privileged: boolean): string {
  if (stage === 2) {
    const s2ap = Number(leaf.fields.S2AP ?? 0);
    return `S2AP = ${bin(s2ap, 2)} forbids ${write ? 'write' : 'read'}`;
  }
  const ap = Number(leaf.fields.AP ?? 0);
  if (!privileged && (ap & 1) === 0) return `AP[2:1] = ${bin(ap, 2)} forbids unprivileged access`;
  if (write && (ap & 2) !== 0) return `AP[2:1] = ${bin(ap, 2)} forbids write`;
  return `APTable of a table descriptor above forbids ${write ? 'write' : 'unprivileged access'}`;
}

/** A stage 2 leaf that refuses the read a stage 1 fetch needs (S2AP, or Device memory with STE.S2PTW). */
export function fetchPermissionDecided(leaf: TraceRead, readable: boolean): string {
  if (!readable) return `S2AP = ${bin(Number(leaf.fields.S2AP ?? 0), 2)} forbids the read this fetch needs`;
  return `MemAttr = ${bin(Number(leaf.fields.MemAttr ?? 0), 4)} (Device) while STE.S2PTW = 1 (Permission fault)`;
}
