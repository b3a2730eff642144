import { addrField, bitField, type BitField, getAddrWords, getField, setAddrWords, setField } from '@ioasid/core';
import { decodeFields, inOneWord } from '../bits.js';

/**
 * Invalidation-queue descriptors, 256 bits each in scalable mode (IQA_REG.DW = 1).
 * Positions: Linux drivers/iommu/intel/iommu.h (QI_*_TYPE, QI_CC_*, QI_IOTLB_*, QI_DEV_IOTLB_*,
 * QI_IWD_*, QI_EIOTLB_*, QI_PC_*, QI_DEV_EIOTLB_*, QI_PGRP_*) and QEMU hw/i386/intel_iommu_internal.h
 * (VTD_INV_DESC_TYPE/CC/IOTLB/DEVICE/WAIT/PIOTLB/PC/DEV_PIOTLB/PGRESP and their field macros).
 */
export const INV_DESC_BYTES = 32;

/** The descriptor type is 7 bits: Type[3:0] in bits 3:0, Type[6:4] in bits 11:9 (QEMU VTD_INV_DESC_TYPE). */
export const DESC_TYPE = bitField('TYPE', 3, 0);
export const DESC_TYPE_HI = bitField('TYPE_HI', 11, 9);
export const DESC_GRAN = bitField('G', 5, 4);

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
export const CC_DID = bitField('DID', 31, 16);
export const CC_SID = bitField('SID', 47, 32);
export const CC_FM = bitField('FM', 49, 48);
// IOTLB invalidate: G 1 global, 2 domain-selective, 3 page-selective-within-domain.
export const IOTLB_DW = bitField('DW', 6);
export const IOTLB_DR = bitField('DR', 7);
export const IOTLB_DID = bitField('DID', 31, 16);
export const IOTLB_AM = bitField('AM', 69, 64);
export const IOTLB_IH = bitField('IH', 70);
export const IOTLB_ADDR = addrField(bitField('ADDR', 127, 76));
// Device-TLB invalidate (requests without PASID).
export const DEVTLB_PFSID_LO = bitField('PFSID_LO', 15, 12);
export const DEVTLB_QDEP = bitField('QDEP', 20, 16);
export const DEVTLB_SID = bitField('SID', 47, 32);
export const DEVTLB_PFSID_HI = bitField('PFSID_HI', 63, 52);
export const DEVTLB_S = bitField('S', 64);
export const DEVTLB_ADDR = addrField(bitField('ADDR', 127, 76));
// Invalidation wait.
export const WAIT_IF = bitField('IF', 4);
export const WAIT_SW = bitField('SW', 5);
export const WAIT_FN = bitField('FN', 6);
export const WAIT_PD = bitField('PD', 7);
export const WAIT_STATUS_DATA = bitField('STATUS_DATA', 63, 32);
export const WAIT_STATUS_ADDR = addrField(bitField('STATUS_ADDR', 127, 66));
// PASID-based IOTLB invalidate: G 2 all mappings of the PASID, 3 page-selective-within-PASID.
export const PIOTLB_DID = bitField('DID', 31, 16);
export const PIOTLB_PASID = bitField('PASID', 51, 32);
export const PIOTLB_AM = bitField('AM', 69, 64);
export const PIOTLB_IH = bitField('IH', 70);
export const PIOTLB_ADDR = addrField(bitField('ADDR', 127, 76));
// PASID-cache invalidate: G 0 domain-selective, 1 PASID-selective, 3 global.
export const PC_DID = bitField('DID', 31, 16);
export const PC_PASID_F = bitField('PASID', 51, 32);
// PASID-based device-TLB invalidate.
export const DPIOTLB_QDEP = bitField('QDEP', 8, 4);
export const DPIOTLB_PFSID_LO = bitField('PFSID_LO', 15, 12);
export const DPIOTLB_SID = bitField('SID', 31, 16);
export const DPIOTLB_PASID = bitField('PASID', 51, 32);
export const DPIOTLB_PFSID_HI = bitField('PFSID_HI', 63, 52);
export const DPIOTLB_G = bitField('G', 64);
export const DPIOTLB_S = bitField('S', 75);
export const DPIOTLB_ADDR = addrField(bitField('ADDR', 127, 76));
// Page group response.
export const PGRP_PASID_P = bitField('PASID_P', 4);
export const PGRP_PDP = bitField('PDP', 5);
export const PGRP_RESP_CODE = bitField('RESP_CODE', 15, 12);
export const PGRP_RID = bitField('RID', 31, 16);
export const PGRP_PASID = bitField('PASID', 51, 32);
export const PGRP_LPIG = bitField('LPIG', 66);
export const PGRP_PRGI = bitField('PRGI', 75, 67);

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
      setField(q, 0, DESC_TYPE, INV_CC);
      setField(q, 0, DESC_GRAN, d.gran);
      setField(q, 0, CC_DID, d.did);
      setField(q, 0, CC_SID, d.sid);
      setField(q, 0, CC_FM, d.fm);
      break;
    case 'iotlb':
      setField(q, 0, DESC_TYPE, INV_IOTLB);
      setField(q, 0, DESC_GRAN, d.gran);
      setField(q, 0, IOTLB_DR, d.dr);
      setField(q, 0, IOTLB_DW, d.dw);
      setField(q, 0, IOTLB_DID, d.did);
      setAddrWords(q, 0, IOTLB_ADDR, d.addr);
      setField(q, 0, IOTLB_IH, d.ih);
      setField(q, 0, IOTLB_AM, d.am);
      break;
    case 'devtlb':
      setField(q, 0, DESC_TYPE, INV_DEVTLB);
      setField(q, 0, DEVTLB_PFSID_LO, d.pfsid & 0xf);
      setField(q, 0, DEVTLB_PFSID_HI, d.pfsid >>> 4);
      setField(q, 0, DEVTLB_QDEP, d.qdep);
      setField(q, 0, DEVTLB_SID, d.sid);
      setField(q, 0, DEVTLB_S, d.s);
      setAddrWords(q, 0, DEVTLB_ADDR, d.addr);
      break;
    case 'wait':
      setField(q, 0, DESC_TYPE, INV_WAIT);
      setField(q, 0, WAIT_IF, d.iflag);
      setField(q, 0, WAIT_SW, d.sw);
      setField(q, 0, WAIT_FN, d.fn);
      setField(q, 0, WAIT_PD, d.pd);
      setField(q, 0, WAIT_STATUS_DATA, d.statusData);
      setAddrWords(q, 0, WAIT_STATUS_ADDR, d.statusAddr);
      break;
    case 'piotlb':
      setField(q, 0, DESC_TYPE, INV_PIOTLB);
      setField(q, 0, DESC_GRAN, d.gran);
      setField(q, 0, PIOTLB_DID, d.did);
      setField(q, 0, PIOTLB_PASID, d.pasid);
      setAddrWords(q, 0, PIOTLB_ADDR, d.addr);
      setField(q, 0, PIOTLB_IH, d.ih);
      setField(q, 0, PIOTLB_AM, d.am);
      break;
    case 'pc':
      setField(q, 0, DESC_TYPE, INV_PC);
      setField(q, 0, DESC_GRAN, d.gran);
      setField(q, 0, PC_DID, d.did);
      setField(q, 0, PC_PASID_F, d.pasid);
      break;
    case 'dev-piotlb':
      setField(q, 0, DESC_TYPE, INV_DEV_PIOTLB);
      setField(q, 0, DPIOTLB_PFSID_LO, d.pfsid & 0xf);
      setField(q, 0, DPIOTLB_PFSID_HI, d.pfsid >>> 4);
      setField(q, 0, DPIOTLB_QDEP, d.qdep);
      setField(q, 0, DPIOTLB_SID, d.sid);
      setField(q, 0, DPIOTLB_PASID, d.pasid);
      setField(q, 0, DPIOTLB_G, d.g);
      setField(q, 0, DPIOTLB_S, d.s);
      setAddrWords(q, 0, DPIOTLB_ADDR, d.addr);
      break;
    case 'pgrp-resp':
      setField(q, 0, DESC_TYPE, INV_PGRP_RESP);
      setField(q, 0, PGRP_PASID_P, d.pasidPresent);
      setField(q, 0, PGRP_PDP, d.pdp);
      setField(q, 0, PGRP_RESP_CODE, d.code);
      setField(q, 0, PGRP_RID, d.rid);
      setField(q, 0, PGRP_PASID, d.pasid);
      setField(q, 0, PGRP_LPIG, d.lpig);
      setField(q, 0, PGRP_PRGI, d.prgi);
      break;
  }
}

const n = (q: ArrayLike<number>, f: BitField): number => getField(q, 0, f);
const b = (q: ArrayLike<number>, f: BitField): boolean => getField(q, 0, f) === 1;

/** The 7-bit descriptor type of a descriptor given as 32-bit words. */
export function invDescType(q: ArrayLike<number>): number {
  return n(q, DESC_TYPE) | (n(q, DESC_TYPE_HI) << 4);
}

/**
 * Decodes a descriptor from its 32-bit words; null for a type the unit does not implement (an
 * invalidation-queue error). Reserved bits are not looked at here (see inv-desc-reserved.ts).
 */
export function decodeInvDescWords(q: ArrayLike<number>): InvDesc | null {
  switch (invDescType(q)) {
    case INV_CC:
      return { type: 'cc', gran: n(q, DESC_GRAN), did: n(q, CC_DID), sid: n(q, CC_SID), fm: n(q, CC_FM) };
    case INV_IOTLB:
      return {
        type: 'iotlb', gran: n(q, DESC_GRAN), did: n(q, IOTLB_DID), addr: getAddrWords(q, 0, IOTLB_ADDR), am: n(q, IOTLB_AM),
        ih: b(q, IOTLB_IH), dr: b(q, IOTLB_DR), dw: b(q, IOTLB_DW),
      };
    case INV_DEVTLB:
      return {
        type: 'devtlb', sid: n(q, DEVTLB_SID), pfsid: n(q, DEVTLB_PFSID_LO) | (n(q, DEVTLB_PFSID_HI) << 4),
        qdep: n(q, DEVTLB_QDEP), addr: getAddrWords(q, 0, DEVTLB_ADDR), s: b(q, DEVTLB_S),
      };
    case INV_WAIT:
      return {
        type: 'wait', iflag: b(q, WAIT_IF), sw: b(q, WAIT_SW), fn: b(q, WAIT_FN), pd: b(q, WAIT_PD),
        statusData: n(q, WAIT_STATUS_DATA), statusAddr: getAddrWords(q, 0, WAIT_STATUS_ADDR),
      };
    case INV_PIOTLB:
      return {
        type: 'piotlb', gran: n(q, DESC_GRAN), did: n(q, PIOTLB_DID), pasid: n(q, PIOTLB_PASID),
        addr: getAddrWords(q, 0, PIOTLB_ADDR), am: n(q, PIOTLB_AM), ih: b(q, PIOTLB_IH),
      };
    case INV_PC:
      return { type: 'pc', gran: n(q, DESC_GRAN), did: n(q, PC_DID), pasid: n(q, PC_PASID_F) };
    case INV_DEV_PIOTLB:
      return {
        type: 'dev-piotlb', sid: n(q, DPIOTLB_SID), pfsid: n(q, DPIOTLB_PFSID_LO) | (n(q, DPIOTLB_PFSID_HI) << 4),
        qdep: n(q, DPIOTLB_QDEP), pasid: n(q, DPIOTLB_PASID), addr: getAddrWords(q, 0, DPIOTLB_ADDR), s: b(q, DPIOTLB_S), g: b(q, DPIOTLB_G),
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
