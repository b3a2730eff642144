import { addrField, bitField, getAddrBig, getFieldBig, setAddrBig, setFieldBig } from '@ioasid/core';
import { bitRange, decodeFields } from '../bits.js';

/**
 * PASID directory entry (64 bits): present, fault-processing disable and the PASID table
 * pointer; a directory entry covers 64 PASIDs (Linux drivers/iommu/intel/pasid.h PASID_PTE_PRESENT,
 * PASID_PTE_FPD, PDE_PFN_MASK, PASID_PDE_SHIFT; QEMU VTD_PASID_DIR_FPD, VTD_PASID_TABLE_BASE_ADDR_MASK,
 * VTD_PASID_DIR_INDEX, VTD_PASID_DIR_ENTRY_SIZE).
 */
export const PASID_DIR_ENTRY_BYTES = 8;
export const PASID_PDE_SHIFT = 6;
export const PASIDS_PER_TABLE = 1 << PASID_PDE_SHIFT;

export const PDE_P = bitField('P', 0);
export const PDE_FPD = bitField('FPD', 1);
export const PDE_PTP = addrField(bitField('PTP', 63, 12));
export const PDE_FIELDS = [PDE_P, PDE_FPD, PDE_PTP] as const;

/** Reserved bits of a PASID directory entry: 11:2 and everything at or above HAW (VT-d §9.5). */
export function pasidDirReserved(haw: number): bigint {
  return bitRange(11, 2) | bitRange(63, haw);
}

export interface PasidDirEntry {
  p: boolean;
  fpd: boolean;
  ptp: bigint;
}

export function encodePasidDirEntry(e: PasidDirEntry): bigint {
  const q = [0n];
  setFieldBig(q, PDE_P, e.p);
  setFieldBig(q, PDE_FPD, e.fpd);
  setAddrBig(q, PDE_PTP, e.ptp);
  return q[0];
}

export function decodePasidDirEntry(v: bigint): PasidDirEntry {
  const q = [v];
  return { p: getFieldBig(q, PDE_P) === 1n, fpd: getFieldBig(q, PDE_FPD) === 1n, ptp: getAddrBig(q, PDE_PTP) };
}

export function pasidDirEntryFields(v: bigint): Record<string, bigint | number | boolean> {
  return decodeFields([v], PDE_FIELDS);
}

export function pasidDirIndex(pasid: number): number {
  return pasid >>> PASID_PDE_SHIFT;
}

export function pasidDirEntryAddr(dir: bigint, pasid: number): bigint {
  return dir + BigInt(pasidDirIndex(pasid) * PASID_DIR_ENTRY_BYTES);
}
