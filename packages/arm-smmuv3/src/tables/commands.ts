import { type BitField, dwField, getField, setField } from '@ioasid/core';

/**
 * Command queue entries: 16 bytes (2 doublewords), SMMUv3 §4. Opcodes and field positions as
 * Linux drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h (CMDQ_OP_*, CMDQ_*_0_*, CMDQ_*_1_*) and
 * QEMU hw/arm/smmuv3-internal.h (SMMUCommandType, CMD_*).
 */
export const CMD_BYTES = 16;
export const CMD_WORDS = 4;

export const OP = {
  PREFETCH_CFG: 0x01,
  CFGI_STE: 0x03,
  /** CFGI_STE_RANGE; Linux issues it with Range = 31 as CFGI_ALL. */
  CFGI_ALL: 0x04,
  CFGI_CD: 0x05,
  CFGI_CD_ALL: 0x06,
  TLBI_NH_ALL: 0x10,
  TLBI_NH_ASID: 0x11,
  TLBI_NH_VA: 0x12,
  TLBI_NH_VAA: 0x13,
  TLBI_S12_VMALL: 0x28,
  TLBI_S2_IPA: 0x2a,
  TLBI_NSNH_ALL: 0x30,
  ATC_INV: 0x40,
  PRI_RESP: 0x41,
  RESUME: 0x44,
  STALL_TERM: 0x45,
  SYNC: 0x46,
} as const;
export type OpName = keyof typeof OP;

export const CMD = {
  OP: dwField('OP', 0, 7, 0),
  SSV: dwField('SSV', 0, 11),
  /** CFGI_*, ATC_INV, PRI_RESP: SubstreamID[31:12]; StreamID[63:32]. */
  SSID: dwField('SSID', 0, 31, 12),
  SID: dwField('SID', 0, 63, 32),
  /** CFGI_STE/CFGI_CD and TLBI_*: Leaf (dword 1 bit 0). */
  LEAF: dwField('LEAF', 1, 0),
  /** CFGI_STE_RANGE: Range[4:0], invalidates 2^(Range+1) StreamIDs. */
  RANGE: dwField('RANGE', 1, 4, 0),
  /** TLBI_*: range NUM/SCALE (dword 0), VMID, ASID; TTL, TG and the address (dword 1). */
  NUM: dwField('NUM', 0, 16, 12),
  SCALE: dwField('SCALE', 0, 24, 20),
  VMID: dwField('VMID', 0, 47, 32),
  ASID: dwField('ASID', 0, 63, 48),
  TTL: dwField('TTL', 1, 9, 8),
  TG: dwField('TG', 1, 11, 10),
  /** TLBI_NH_VA / ATC_INV: address bits 63:12 (stored in place). */
  ADDR: dwField('ADDR', 1, 63, 12),
  /** TLBI_S2_IPA: IPA bits 51:12. */
  IPA: dwField('IPA', 1, 51, 12),
  /** ATC_INV: Global (dword 0 bit 9) and Size[5:0] (log2 of the span in 4 KiB pages). */
  GLOBAL: dwField('GLOBAL', 0, 9),
  ATC_SIZE: dwField('ATC_SIZE', 1, 5, 0),
  /** PRI_RESP: PRG index and Resp (dword 1). */
  GRPID: dwField('GRPID', 1, 8, 0),
  PRI_RESP: dwField('PRI_RESP', 1, 13, 12),
  /** RESUME: Action (dword 0 bits 13:12) and STAG (dword 1). */
  RESUME_RESP: dwField('RESUME_RESP', 0, 13, 12),
  STAG: dwField('STAG', 1, 15, 0),
  /** SYNC: completion signal, MSI attributes and data. */
  CS: dwField('CS', 0, 13, 12),
  MSH: dwField('MSH', 0, 23, 22),
  MSIATTR: dwField('MSIATTR', 0, 27, 24),
  MSIDATA: dwField('MSIDATA', 0, 63, 32),
  MSIADDR: dwField('MSIADDR', 1, 51, 2),
} as const satisfies Record<string, BitField>;
export type CmdFieldName = keyof typeof CMD;
export type CmdFields = Partial<Record<CmdFieldName, number>>;

/** ATC_INV Size meaning "everything" (Linux ATC_INV_SIZE_ALL). */
export const ATC_INV_SIZE_ALL = 52;
/** PRI_RESP codes (Linux enum pri_resp). */
export const PRI_RESP_DENY = 0;
export const PRI_RESP_FAIL = 1;
export const PRI_RESP_SUCC = 2;
/** RESUME actions (Linux CMDQ_RESUME_0_RESP_*). */
export const RESUME_TERM = 0;
export const RESUME_RETRY = 1;
export const RESUME_ABORT = 2;
/** TLBI TG: translation granule of a range (1 = 4K, 2 = 16K, 3 = 64K). */
export function tlbiTg(gshift: number): number {
  return (gshift - 10) / 2;
}

/** CMDQ_CONS.ERR codes (Linux CMDQ_ERR_CERROR_*). */
export const CERROR_NONE = 0;
export const CERROR_ILL = 1;
export const CERROR_ABT = 2;
export const CERROR_ATC_INV_SYNC = 3;

export function encodeCommand(op: number, values: CmdFields = {}): Uint32Array {
  const w = new Uint32Array(CMD_WORDS);
  encodeCommandInto(w, op, values);
  return w;
}

/** Encodes a command into `w` (CMD_WORDS words, overwritten). */
export function encodeCommandInto(w: Uint32Array, op: number, values: CmdFields): void {
  w.fill(0, 0, CMD_WORDS);
  setField(w, 0, CMD.OP, op);
  for (const k in values) {
    const v = values[k as CmdFieldName];
    if (v === undefined) continue;
    if (!Object.prototype.hasOwnProperty.call(CMD, k)) throw new RangeError(`unknown command field ${k}`);
    setField(w, 0, CMD[k as CmdFieldName], v);
  }
}

export function cmdField(w: ArrayLike<number>, base: number, name: CmdFieldName): number {
  return getField(w, base, CMD[name]);
}

const OP_NAMES: string[] = Array.from({ length: 256 }, (_, op) => `0x${op.toString(16)}`);
for (const [k, v] of Object.entries(OP)) OP_NAMES[v] = k;

export function opName(op: number): string {
  return Number.isInteger(op) && op >= 0 && op < 256 ? OP_NAMES[op] : `0x${op.toString(16)}`;
}
