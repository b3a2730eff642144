import type { InvDesc } from './inv-desc.js';

/**
 * Reserved bits of each invalidation descriptor the unit implements, as the eight little-endian
 * 32-bit words of a 256-bit queue slot (bits 31:0 first). A descriptor with any of them set is
 * invalid: the unit stops the queue on it with FSTS.IQE (VT-d §6.5.2.10). Bits 11:9 (Type[6:4])
 * are not listed: a type with them set is another type, which the unit does not implement.
 *
 * Per descriptor, after VT-d §6.5.2.1–6.5.2.8 and §7.7.1 and QEMU hw/i386/intel_iommu_internal.h
 * (VTD_INV_DESC_*_RSVD*). Where the model differs from QEMU's masks it follows the spec fields
 * Linux writes: the PFSID bits (15:12, 63:52) of both device-TLB descriptors (QI_DEV_IOTLB_PFSID,
 * QI_DEV_EIOTLB_PFSID), which QEMU does not implement and so reserves.
 */
const RESERVED: Record<InvDesc['type'], readonly number[]> = {
  // Context-cache: 8:6, 15:12, 63:50; the whole of qword 1 (QEMU VTD_INV_DESC_CC_RSVD, hi must be 0).
  cc: [0x0000f1c0, 0xfffc0000, 0xffffffff, 0xffffffff],
  // IOTLB: 8, 15:12, 63:32; qword 1 bits 11:7 (VTD_INV_DESC_IOTLB_RSVD_LO / _HI).
  iotlb: [0x0000f100, 0xffffffff, 0x00000f80, 0],
  // Device-TLB: 8:4, 31:21, 51:48; qword 1 bits 11:1 (VTD_INV_DESC_DEVICE_IOTLB_RSVD_HI; PFSID kept).
  devtlb: [0xffe001f0, 0x000f0000, 0x00000ffe, 0],
  // Wait: 8:7 (PD is reserved: ECAP.PDS = 0), 31:12; qword 1 bits 1:0 (VTD_INV_DESC_WAIT_RSVD_LO / _HI).
  wait: [0xfffff180, 0, 0x00000003, 0],
  // PASID-based IOTLB: 8:6, 15:12, 63:52; qword 1 bits 11:7 (VTD_INV_DESC_PIOTLB_RSVD_VAL0 / VAL1).
  piotlb: [0x0000f1c0, 0xfff00000, 0x00000f80, 0],
  // PASID-cache: 8:6, 15:12, 63:52; the whole of qword 1 (VTD_INV_DESC_PASIDC_RSVD_VAL0).
  pc: [0x0000f1c0, 0xfff00000, 0xffffffff, 0xffffffff],
  // PASID-based device-TLB: qword 0 is all fields; qword 1 bits 10:1 (VTD_INV_DESC_PASID_DEVICE_IOTLB_RSVD_VAL1).
  'dev-piotlb': [0, 0, 0x000007fe, 0],
  // Page group response: 8:5 (no private data, PDP), 63:52; qword 1 bits 1:0 and 63:12 (VTD_INV_DESC_PGRESP_RSVD_LO / _HI).
  'pgrp-resp': [0x000001e0, 0xfff00000, 0xfffff003, 0xffffffff],
};

/** Reserved-bit mask of a descriptor type as eight words; bits 255:128 are reserved in all of them. */
export function invDescReserved(type: InvDesc['type']): Uint32Array {
  const m = new Uint32Array(8);
  m.set(RESERVED[type]);
  m.fill(0xffffffff, 4);
  return m;
}

const MASKS = Object.fromEntries(Object.keys(RESERVED).map((t) => [t, invDescReserved(t as InvDesc['type'])])) as Record<InvDesc['type'], Uint32Array>;

/** Whether the descriptor words set a bit its type reserves. */
export function hasReservedBits(type: InvDesc['type'], w: ArrayLike<number>): boolean {
  const m = MASKS[type];
  for (let k = 0; k < 8; k++) if (((w[k] ?? 0) & m[k]) !== 0) return true;
  return false;
}
