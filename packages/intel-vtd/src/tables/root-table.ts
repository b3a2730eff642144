import { addrField, bitField, getAddrBig, getFieldBig, setAddrBig, setFieldBig } from '@ioasid/core';
import { bitRange, decodeFields } from '../bits.js';

/**
 * Scalable-mode root table: one 4 KiB page of 256 × 128-bit entries indexed by bus number; the
 * lower half points to the context table for devfn 0–127, the upper half for devfn 128–255
 * (QEMU hw/i386/intel_iommu_internal.h VTD_ROOT_ENTRY_P/CTP/RSVD, VTD_DEVFN_CHECK_MASK;
 * Linux drivers/iommu/intel/iommu.h struct root_entry).
 */
export const ROOT_ENTRY_BYTES = 16;
export const ROOT_ENTRIES = 256;

export const ROOT_LP = bitField('LP', 0);
export const ROOT_LCTP = addrField(bitField('LCTP', 63, 12));
export const ROOT_UP = bitField('UP', 64);
export const ROOT_UCTP = addrField(bitField('UCTP', 127, 76));
export const ROOT_FIELDS = [ROOT_LP, ROOT_LCTP, ROOT_UP, ROOT_UCTP] as const;

/** devfn ≥ 128 uses the upper context table (QEMU VTD_DEVFN_CHECK_MASK). */
export const DEVFN_UPPER = 0x80;

/** Reserved bits of each root-entry qword: 11:1 and everything at or above HAW (QEMU VTD_ROOT_ENTRY_RSVD). */
export function rootReserved(haw: number): bigint {
  return bitRange(11, 1) | bitRange(63, haw);
}

export interface RootEntry {
  lp: boolean;
  lctp: bigint;
  up: boolean;
  uctp: bigint;
}

export function encodeRootEntry(e: RootEntry): bigint[] {
  const q = [0n, 0n];
  setFieldBig(q, ROOT_LP, e.lp);
  setAddrBig(q, ROOT_LCTP, e.lctp);
  setFieldBig(q, ROOT_UP, e.up);
  setAddrBig(q, ROOT_UCTP, e.uctp);
  return q;
}

export function decodeRootEntry(q: readonly bigint[]): RootEntry {
  return {
    lp: getFieldBig(q, ROOT_LP) === 1n,
    lctp: getAddrBig(q, ROOT_LCTP),
    up: getFieldBig(q, ROOT_UP) === 1n,
    uctp: getAddrBig(q, ROOT_UCTP),
  };
}

export function rootEntryFields(q: readonly bigint[]): Record<string, bigint | number | boolean> {
  return decodeFields(q, ROOT_FIELDS);
}

export function rootEntryAddr(rootTable: bigint, bus: number): bigint {
  return rootTable + BigInt(bus * ROOT_ENTRY_BYTES);
}
