import { decodeFields, addrField, field, getWordAddr, getWordField, inOneWord, setWordAddr, setWordField, type BitField } from '../bits.js';

/**
 * Invalidation-queue descriptors, 256 bits each in scalable mode (IQA_REG.DW = 1).
 * Positions: Linux drivers/iommu/intel/iommu.h (QI_*_TYPE, QI_CC_*, QI_IOTLB_*, QI_DEV_IOTLB_*,
 * QI_IWD_*, QI_EIOTLB_*, QI_PC_*, QI_DEV_EIOTLB_*, QI_PGRP_*) and QEMU hw/i386/intel_iommu_internal.h
 * (VTD_INV_DESC_TYPE/CC/IOTLB/DEVICE/WAIT/PIOTLB/PC/DEV_PIOTLB/PGRESP and their field macros).
 */
export const INV_DESC_BYTES = 32;

export const DESC_TYPE = field('TYPE', 3, 0);
export const DESC_GRAN = field('G', 5, 4);

export const INV_CC = 0x1;
export const INV_IOTLB = 0x2;
export const INV_DEVTLB = 0x3;
export const INV_IEC = 0x4;
export const INV_WAIT = 0x5;
export const INV_PIOTLB = 0x6;
export const INV_PC = 0x7;
export const INV_DEV_PIOTLB = 0x8;
export const INV_PGRP_RESP = 0x9;

// Context-cache invalidate: G 1 global, 2 domain-selective, 3 device-selective.
export const CC_DID = field('DID', 31, 16);
export const CC_SID = field('SID', 47, 32);
export const CC_FM = field('FM', 49, 48);
// IOTLB invalidate: G 1 global, 2 domain-selective, 3 page-selective-within-domain.
export const IOTLB_DW = field('DW', 6);
export const IOTLB_DR = field('DR', 7);
export const IOTLB_DID = field('DID', 31, 16);
export const IOTLB_AM = field('AM', 69, 64);
export const IOTLB_IH = field('IH', 70);
export const IOTLB_ADDR = addrField('ADDR', 127, 76);
// Device-TLB invalidate (requests without PASID).
export const DEVTLB_PFSID_LO = field('PFSID_LO', 15, 12);
export const DEVTLB_QDEP = field('QDEP', 20, 16);
export const DEVTLB_SID = field('SID', 47, 32);
export const DEVTLB_PFSID_HI = field('PFSID_HI', 63, 52);
export const DEVTLB_S = field('S', 64);
export const DEVTLB_ADDR = addrField('ADDR', 127, 76);
// Invalidation wait.
export const WAIT_IF = field('IF', 4);
export const WAIT_SW = field('SW', 5);
export const WAIT_FN = field('FN', 6);
export const WAIT_PD = field('PD', 7);
export const WAIT_STATUS_DATA = field('STATUS_DATA', 63, 32);
export const WAIT_STATUS_ADDR = addrField('STATUS_ADDR', 127, 66);
// PASID-based IOTLB invalidate: G 2 all mappings of the PASID, 3 page-selective-within-PASID.
export const PIOTLB_DID = field('DID', 31, 16);
export const PIOTLB_PASID = field('PASID', 51, 32);
export const PIOTLB_AM = field('AM', 69, 64);
export const PIOTLB_IH = field('IH', 70);
export const PIOTLB_ADDR = addrField('ADDR', 127, 76);
// PASID-cache invalidate: G 0 domain-selective, 1 PASID-selective, 3 global.
export const PC_DID = field('DID', 31, 16);
export const PC_PASID_F = field('PASID', 51, 32);
// PASID-based device-TLB invalidate.
export const DPIOTLB_QDEP = field('QDEP', 8, 4);
export const DPIOTLB_PFSID_LO = field('PFSID_LO', 15, 12);
export const DPIOTLB_SID = field('SID', 31, 16);
export const DPIOTLB_PASID = field('PASID', 51, 32);
export const DPIOTLB_PFSID_HI = field('PFSID_HI', 63, 52);
export const DPIOTLB_G = field('G', 64);
export const DPIOTLB_S = field('S', 75);
export const DPIOTLB_ADDR = addrField('ADDR', 127, 76);
// Page group response.
export const PGRP_PASID_P = field('PASID_P', 4);
export const PGRP_PDP = field('PDP', 5);
export const PGRP_RESP_CODE = field('RESP_CODE', 15, 12);
export const PGRP_RID = field('RID', 31, 16);
export const PGRP_PASID = field('PASID', 51, 32);
export const PGRP_LPIG = field('LPIG', 66);
export const PGRP_PRGI = field('PRGI', 75, 67);

/** Field lists per descriptor type, for decoding raw queue contents. */
export const INV_DESC_FIELDS: Record<InvDesc['type'], readonly BitField[]> = {
  cc: [DESC_TYPE, DESC_GRAN, CC_DID, CC_SID, CC_FM],
  iotlb: [DESC_TYPE, DESC_GRAN, IOTLB_DW, IOTLB_DR, IOTLB_DID, IOTLB_AM, IOTLB_IH, IOTLB_ADDR],
  devtlb: [DESC_TYPE, DEVTLB_PFSID_LO, DEVTLB_QDEP, DEVTLB_SID, DEVTLB_PFSID_HI, DEVTLB_S, DEVTLB_ADDR],
  wait: [DESC_TYPE, WAIT_IF, WAIT_SW, WAIT_FN, WAIT_PD, WAIT_STATUS_DATA, WAIT_STATUS_ADDR],
  piotlb: [DESC_TYPE, DESC_GRAN, PIOTLB_DID, PIOTLB_PASID, PIOTLB_AM, PIOTLB_IH, PIOTLB_ADDR],
  pc: [DESC_TYPE, DESC_GRAN, PC_DID, PC_PASID_F],
  'dev-piotlb': [DESC_TYPE, DPIOTLB_QDEP, DPIOTLB_PFSID_LO, DPIOTLB_SID, DPIOTLB_PASID, DPIOTLB_PFSID_HI, DPIOTLB_G, DPIOTLB_S, DPIOTLB_ADDR],
  'pgrp-resp': [DESC_TYPE, PGRP_PASID_P, PGRP_PDP, PGRP_RESP_CODE, PGRP_RID, PGRP_PASID, PGRP_LPIG, PGRP_PRGI],
};

for (const fields of Object.values(INV_DESC_FIELDS)) {
  for (const f of fields) if (!f.addr && !inOneWord(f)) throw new Error(`descriptor field ${f.name} must lie within one 32-bit word`);
}

export const CC_GLOBAL = 1;
export const CC_DOMAIN = 2;
export const CC_DEVICE = 3;
export const IOTLB_GLOBAL = 1;
export const IOTLB_DOMAIN = 2;
export const IOTLB_PAGE = 3;
export const PIOTLB_ALL_IN_PASID = 2;
export const PIOTLB_PAGE_IN_PASID = 3;
export const PC_DOMAIN = 0;
export const PC_PASID_SEL = 1;
export const PC_GLOBAL = 3;

/** Page-group response codes (Linux QI_RESP_SUCCESS/INVALID/FAILURE). */
export const RESP_SUCCESS = 0x0;
export const RESP_INVALID = 0x1;
export const RESP_FAILURE = 0xf;

/** The value the driver's wait descriptor asks the hardware to write (Linux enum QI_DONE). */
export const QI_IN_USE = 1;
export const QI_DONE = 2;

export type InvDesc =
  | { type: 'cc'; gran: number; did: number; sid: number; fm: number }
  | { type: 'iotlb'; gran: number; did: number; addr: bigint; am: number; ih: boolean; dr: boolean; dw: boolean }
  | { type: 'devtlb'; sid: number; pfsid: number; qdep: number; addr: bigint; s: boolean }
  | { type: 'wait'; sw: boolean; fn: boolean; iflag: boolean; pd: boolean; statusData: number; statusAddr: bigint }
  | { type: 'piotlb'; gran: number; did: number; pasid: number; addr: bigint; am: number; ih: boolean }
  | { type: 'pc'; gran: number; did: number; pasid: number }
  | { type: 'dev-piotlb'; sid: number; pfsid: number; qdep: number; pasid: number; addr: bigint; s: boolean; g: boolean }
  | { type: 'pgrp-resp'; rid: number; pasid: number; pasidPresent: boolean; pdp: boolean; code: number; lpig: boolean; prgi: number };

/**
 * Encodes a descriptor into eight little-endian 32-bit words (the 256-bit slot as memory holds it);
 * `w` is cleared first. Numbers only, except the address fields.
 */
export function encodeInvDescWords(d: InvDesc, w: Uint32Array | number[]): void {
  w.fill(0);
  const q = w;
  switch (d.type) {
    case 'cc':
      setWordField(q, DESC_TYPE, INV_CC);
      setWordField(q, DESC_GRAN, d.gran);
      setWordField(q, CC_DID, d.did);
      setWordField(q, CC_SID, d.sid);
      setWordField(q, CC_FM, d.fm);
      break;
    case 'iotlb':
      setWordField(q, DESC_TYPE, INV_IOTLB);
      setWordField(q, DESC_GRAN, d.gran);
      setWordField(q, IOTLB_DR, d.dr);
      setWordField(q, IOTLB_DW, d.dw);
      setWordField(q, IOTLB_DID, d.did);
      setWordAddr(q, IOTLB_ADDR, d.addr);
      setWordField(q, IOTLB_IH, d.ih);
      setWordField(q, IOTLB_AM, d.am);
      break;
    case 'devtlb':
      setWordField(q, DESC_TYPE, INV_DEVTLB);
      setWordField(q, DEVTLB_PFSID_LO, d.pfsid & 0xf);
      setWordField(q, DEVTLB_PFSID_HI, d.pfsid >>> 4);
      setWordField(q, DEVTLB_QDEP, d.qdep);
      setWordField(q, DEVTLB_SID, d.sid);
      setWordField(q, DEVTLB_S, d.s);
      setWordAddr(q, DEVTLB_ADDR, d.addr);
      break;
    case 'wait':
      setWordField(q, DESC_TYPE, INV_WAIT);
      setWordField(q, WAIT_IF, d.iflag);
      setWordField(q, WAIT_SW, d.sw);
      setWordField(q, WAIT_FN, d.fn);
      setWordField(q, WAIT_PD, d.pd);
      setWordField(q, WAIT_STATUS_DATA, d.statusData);
      setWordAddr(q, WAIT_STATUS_ADDR, d.statusAddr);
      break;
    case 'piotlb':
      setWordField(q, DESC_TYPE, INV_PIOTLB);
      setWordField(q, DESC_GRAN, d.gran);
      setWordField(q, PIOTLB_DID, d.did);
      setWordField(q, PIOTLB_PASID, d.pasid);
      setWordAddr(q, PIOTLB_ADDR, d.addr);
      setWordField(q, PIOTLB_IH, d.ih);
      setWordField(q, PIOTLB_AM, d.am);
      break;
    case 'pc':
      setWordField(q, DESC_TYPE, INV_PC);
      setWordField(q, DESC_GRAN, d.gran);
      setWordField(q, PC_DID, d.did);
      setWordField(q, PC_PASID_F, d.pasid);
      break;
    case 'dev-piotlb':
      setWordField(q, DESC_TYPE, INV_DEV_PIOTLB);
      setWordField(q, DPIOTLB_PFSID_LO, d.pfsid & 0xf);
      setWordField(q, DPIOTLB_PFSID_HI, d.pfsid >>> 4);
      setWordField(q, DPIOTLB_QDEP, d.qdep);
      setWordField(q, DPIOTLB_SID, d.sid);
      setWordField(q, DPIOTLB_PASID, d.pasid);
      setWordField(q, DPIOTLB_G, d.g);
      setWordField(q, DPIOTLB_S, d.s);
      setWordAddr(q, DPIOTLB_ADDR, d.addr);
      break;
    case 'pgrp-resp':
      setWordField(q, DESC_TYPE, INV_PGRP_RESP);
      setWordField(q, PGRP_PASID_P, d.pasidPresent);
      setWordField(q, PGRP_PDP, d.pdp);
      setWordField(q, PGRP_RESP_CODE, d.code);
      setWordField(q, PGRP_RID, d.rid);
      setWordField(q, PGRP_PASID, d.pasid);
      setWordField(q, PGRP_LPIG, d.lpig);
      setWordField(q, PGRP_PRGI, d.prgi);
      break;
  }
}

const n = (q: ArrayLike<number>, f: BitField): number => getWordField(q, f);
const b = (q: ArrayLike<number>, f: BitField): boolean => getWordField(q, f) === 1;

/** Decodes a descriptor from its 32-bit words; null for a type the unit does not implement (an invalidation-queue error). */
export function decodeInvDescWords(q: ArrayLike<number>): InvDesc | null {
  switch (n(q, DESC_TYPE)) {
    case INV_CC:
      return { type: 'cc', gran: n(q, DESC_GRAN), did: n(q, CC_DID), sid: n(q, CC_SID), fm: n(q, CC_FM) };
    case INV_IOTLB:
      return {
        type: 'iotlb', gran: n(q, DESC_GRAN), did: n(q, IOTLB_DID), addr: getWordAddr(q, IOTLB_ADDR), am: n(q, IOTLB_AM),
        ih: b(q, IOTLB_IH), dr: b(q, IOTLB_DR), dw: b(q, IOTLB_DW),
      };
    case INV_DEVTLB:
      return {
        type: 'devtlb', sid: n(q, DEVTLB_SID), pfsid: n(q, DEVTLB_PFSID_LO) | (n(q, DEVTLB_PFSID_HI) << 4),
        qdep: n(q, DEVTLB_QDEP), addr: getWordAddr(q, DEVTLB_ADDR), s: b(q, DEVTLB_S),
      };
    case INV_WAIT:
      return {
        type: 'wait', iflag: b(q, WAIT_IF), sw: b(q, WAIT_SW), fn: b(q, WAIT_FN), pd: b(q, WAIT_PD),
        statusData: n(q, WAIT_STATUS_DATA), statusAddr: getWordAddr(q, WAIT_STATUS_ADDR),
      };
    case INV_PIOTLB:
      return {
        type: 'piotlb', gran: n(q, DESC_GRAN), did: n(q, PIOTLB_DID), pasid: n(q, PIOTLB_PASID),
        addr: getWordAddr(q, PIOTLB_ADDR), am: n(q, PIOTLB_AM), ih: b(q, PIOTLB_IH),
      };
    case INV_PC:
      return { type: 'pc', gran: n(q, DESC_GRAN), did: n(q, PC_DID), pasid: n(q, PC_PASID_F) };
    case INV_DEV_PIOTLB:
      return {
        type: 'dev-piotlb', sid: n(q, DPIOTLB_SID), pfsid: n(q, DPIOTLB_PFSID_LO) | (n(q, DPIOTLB_PFSID_HI) << 4),
        qdep: n(q, DPIOTLB_QDEP), pasid: n(q, DPIOTLB_PASID), addr: getWordAddr(q, DPIOTLB_ADDR), s: b(q, DPIOTLB_S), g: b(q, DPIOTLB_G),
      };
    case INV_PGRP_RESP:
      return {
        type: 'pgrp-resp', rid: n(q, PGRP_RID), pasid: n(q, PGRP_PASID), pasidPresent: b(q, PGRP_PASID_P), pdp: b(q, PGRP_PDP),
        code: n(q, PGRP_RESP_CODE), lpig: b(q, PGRP_LPIG), prgi: n(q, PGRP_PRGI),
      };
    default:
      return null;
  }
}


/** The descriptor as four qwords (bits 63:0 first). */
export function encodeInvDesc(d: InvDesc): bigint[] {
  const w = new Array<number>(8).fill(0);
  encodeInvDescWords(d, w);
  const q: bigint[] = [];
  for (let k = 0; k < 4; k++) q.push((BigInt(w[2 * k + 1]) << 32n) | BigInt(w[2 * k]));
  return q;
}

/** Decodes a descriptor given as qwords (up to four; missing ones read as zero). */
export function decodeInvDesc(q: readonly bigint[]): InvDesc | null {
  const w: number[] = [];
  for (let k = 0; k < 4; k++) {
    const v = q[k] ?? 0n;
    w.push(Number(v & 0xffffffffn), Number((v >> 32n) & 0xffffffffn));
  }
  return decodeInvDescWords(w);
}

/** Raw field view of a descriptor, for dumps and tests. */
export function invDescFields(q: readonly bigint[], fields: readonly BitField[]): Record<string, bigint | number | boolean> {
  return decodeFields(q, fields);
}

/**
 * The range a device-TLB invalidation with S = 1 covers: the number of consecutive 1 bits from
 * address bit 12 upwards, k, gives 2^(12 + k + 1) bytes (Linux qi_flush_dev_iotlb encoding).
 */
export function devTlbRange(addr: bigint, s: boolean): { start: bigint; size: bigint } {
  if (!s) return { start: addr, size: 4096n };
  let k = 0;
  while (k < 52 && ((addr >> BigInt(12 + k)) & 1n) === 1n) k++;
  const size = 1n << BigInt(12 + k + 1);
  return { start: addr & ~(size - 1n), size };
}

/** Address (4 KiB aligned) and S bit encoding 2^sizeOrder pages at `addr` for a device-TLB descriptor. */
export function devTlbEncode(addr: bigint, sizeOrder: number): { addr: bigint; s: boolean } {
  if (sizeOrder === 0) return { addr: addr & ~0xfffn, s: false };
  const a = addr | ((1n << BigInt(12 + sizeOrder - 1)) - 1n);
  return { addr: a & ~0xfffn, s: true };
}
