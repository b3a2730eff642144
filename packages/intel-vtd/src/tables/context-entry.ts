import { addrField, bitField, getAddrBig, getFieldBig, setAddrBig, setFieldBig } from '@ioasid/core';
import { bitRange, decodeFields } from '../bits.js';

/**
 * Scalable-mode context entry (256 bits; 128 per 4 KiB context table, indexed by devfn & 0x7f).
 * Positions: Linux drivers/iommu/intel/iommu.h (context_set_sm_rid2pasid, context_set_sm_dte,
 * context_set_sm_pre, context_pdts, CONTEXT_PASIDE) and QEMU hw/i386/intel_iommu_internal.h
 * (VTD_CONTEXT_ENTRY_P/FPD, VTD_SM_CONTEXT_ENTRY_PDTS/PRE/RID2PASID_MASK/RSVD_VAL0/RSVD_VAL1,
 * VTD_CTX_ENTRY_SCALABLE_SIZE).
 */
export const SM_CONTEXT_ENTRY_BYTES = 32;
export const SM_CONTEXT_ENTRIES = 128;

export const CTX_P = bitField('P', 0);
export const CTX_FPD = bitField('FPD', 1);
export const CTX_DTE = bitField('DTE', 2);
export const CTX_PASIDE = bitField('PASIDE', 3);
export const CTX_PRE = bitField('PRE', 4);
export const CTX_PDTS = bitField('PDTS', 11, 9);
export const CTX_PASIDDIRPTR = addrField(bitField('PASIDDIRPTR', 63, 12));
export const CTX_RID_PASID = bitField('RID_PASID', 83, 64);
export const CTX_RID_PRIV = bitField('RID_PRIV', 84);
export const CTX_FIELDS = [CTX_P, CTX_FPD, CTX_DTE, CTX_PASIDE, CTX_PRE, CTX_PDTS, CTX_PASIDDIRPTR, CTX_RID_PASID, CTX_RID_PRIV] as const;

/** Reserved bits per qword: 8:5 and ≥ HAW in qword 0, 63:21 in qword 1, all of qwords 2–3. */
export function contextReserved(haw: number): bigint[] {
  return [bitRange(8, 5) | bitRange(63, haw), bitRange(63, 21), bitRange(63, 0), bitRange(63, 0)];
}

/** PASID directory entries a PDTS value gives: 2^(PDTS + 7) (Linux get_pasid_dir_size). */
export function pasidDirEntries(pdts: number): number {
  return 1 << (pdts + 7);
}

export interface SmContextEntry {
  p: boolean;
  fpd: boolean;
  dte: boolean;
  paside: boolean;
  pre: boolean;
  pdts: number;
  pasidDirPtr: bigint;
  ridPasid: number;
  ridPriv: boolean;
}

export function encodeContextEntry(e: SmContextEntry): bigint[] {
  const q = [0n, 0n, 0n, 0n];
  setFieldBig(q, CTX_P, e.p);
  setFieldBig(q, CTX_FPD, e.fpd);
  setFieldBig(q, CTX_DTE, e.dte);
  setFieldBig(q, CTX_PASIDE, e.paside);
  setFieldBig(q, CTX_PRE, e.pre);
  setFieldBig(q, CTX_PDTS, e.pdts);
  setAddrBig(q, CTX_PASIDDIRPTR, e.pasidDirPtr);
  setFieldBig(q, CTX_RID_PASID, e.ridPasid);
  setFieldBig(q, CTX_RID_PRIV, e.ridPriv);
  return q;
}

export function decodeContextEntry(q: readonly bigint[]): SmContextEntry {
  return {
    p: getFieldBig(q, CTX_P) === 1n,
    fpd: getFieldBig(q, CTX_FPD) === 1n,
    dte: getFieldBig(q, CTX_DTE) === 1n,
    paside: getFieldBig(q, CTX_PASIDE) === 1n,
    pre: getFieldBig(q, CTX_PRE) === 1n,
    pdts: Number(getFieldBig(q, CTX_PDTS)),
    pasidDirPtr: getAddrBig(q, CTX_PASIDDIRPTR),
    ridPasid: Number(getFieldBig(q, CTX_RID_PASID)),
    ridPriv: getFieldBig(q, CTX_RID_PRIV) === 1n,
  };
}

export function contextEntryFields(q: readonly bigint[]): Record<string, bigint | number | boolean> {
  return decodeFields(q, CTX_FIELDS);
}

export function contextEntryAddr(contextTable: bigint, devfn: number): bigint {
  return contextTable + BigInt((devfn & 0x7f) * SM_CONTEXT_ENTRY_BYTES);
}
