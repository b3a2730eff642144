import { addrField, bitField, getAddrBig, getFieldBig, setAddrBig, setFieldBig } from '@ioasid/core';
import { decodeFields } from '../bits.js';

/**
 * Page request descriptor the unit writes into the page request queue (256 bits).
 * Positions: Linux drivers/iommu/intel/prq.c struct page_req_dsc and decode_prq_descriptor in
 * drivers/iommu/intel/iommu.h; QEMU hw/i386/intel_iommu_internal.h VTD_PRD_TYPE/PP/RID/PASID/EXR/PMR,
 * VTD_PRD_RDR/WRR/LPIG/PRGI/ADDR, VTD_PQA_ENTRY_SIZE.
 */
export const PRQ_DESC_BYTES = 32;
export const PRD_TYPE_PAGE_REQUEST = 1;

export const PRD_TYPE = bitField('TYPE', 7, 0);
export const PRD_PP = bitField('PP', 8);
export const PRD_PDP = bitField('PDP', 9);
export const PRD_RID = bitField('RID', 31, 16);
export const PRD_PASID = bitField('PASID', 51, 32);
export const PRD_EXR = bitField('EXR', 52);
export const PRD_PMR = bitField('PMR', 53);
export const PRD_RDR = bitField('RDR', 64);
export const PRD_WRR = bitField('WRR', 65);
export const PRD_LPIG = bitField('LPIG', 66);
export const PRD_PRGI = bitField('PRGI', 75, 67);
export const PRD_ADDR = addrField(bitField('ADDR', 127, 76));
export const PRD_FIELDS = [PRD_TYPE, PRD_PP, PRD_PDP, PRD_RID, PRD_PASID, PRD_EXR, PRD_PMR, PRD_RDR, PRD_WRR, PRD_LPIG, PRD_PRGI, PRD_ADDR] as const;

export interface PageRequest {
  rid: number;
  pasidPresent: boolean;
  pasid: number;
  privileged: boolean;
  read: boolean;
  write: boolean;
  lpig: boolean;
  prgi: number;
  addr: bigint;
}

export function encodePageRequest(r: PageRequest): bigint[] {
  const q = [0n, 0n, 0n, 0n];
  setFieldBig(q, PRD_TYPE, PRD_TYPE_PAGE_REQUEST);
  setFieldBig(q, PRD_PP, r.pasidPresent);
  setFieldBig(q, PRD_RID, r.rid);
  setFieldBig(q, PRD_PASID, r.pasid);
  setFieldBig(q, PRD_PMR, r.privileged);
  setFieldBig(q, PRD_RDR, r.read);
  setFieldBig(q, PRD_WRR, r.write);
  setFieldBig(q, PRD_LPIG, r.lpig);
  setFieldBig(q, PRD_PRGI, r.prgi);
  setAddrBig(q, PRD_ADDR, r.addr);
  return q;
}

export function decodePageRequest(q: readonly bigint[]): PageRequest {
  return {
    rid: Number(getFieldBig(q, PRD_RID)),
    pasidPresent: getFieldBig(q, PRD_PP) === 1n,
    pasid: Number(getFieldBig(q, PRD_PASID)),
    privileged: getFieldBig(q, PRD_PMR) === 1n,
    read: getFieldBig(q, PRD_RDR) === 1n,
    write: getFieldBig(q, PRD_WRR) === 1n,
    lpig: getFieldBig(q, PRD_LPIG) === 1n,
    prgi: Number(getFieldBig(q, PRD_PRGI)),
    addr: getAddrBig(q, PRD_ADDR),
  };
}

export function pageRequestFields(q: readonly bigint[]): Record<string, bigint | number | boolean> {
  return decodeFields(q, PRD_FIELDS);
}
