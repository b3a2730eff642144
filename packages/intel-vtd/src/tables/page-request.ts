import { decodeFields, addrField, field, getAddr, getField, setAddr, setField } from '../bits.js';

/**
 * Page request descriptor the unit writes into the page request queue (256 bits).
 * Positions: Linux drivers/iommu/intel/prq.c struct page_req_dsc and decode_prq_descriptor in
 * drivers/iommu/intel/iommu.h; QEMU hw/i386/intel_iommu_internal.h VTD_PRD_TYPE/PP/RID/PASID/EXR/PMR,
 * VTD_PRD_RDR/WRR/LPIG/PRGI/ADDR, VTD_PQA_ENTRY_SIZE.
 */
export const PRQ_DESC_BYTES = 32;
export const PRD_TYPE_PAGE_REQUEST = 1;

export const PRD_TYPE = field('TYPE', 7, 0);
export const PRD_PP = field('PP', 8);
export const PRD_PDP = field('PDP', 9);
export const PRD_RID = field('RID', 31, 16);
export const PRD_PASID = field('PASID', 51, 32);
export const PRD_EXR = field('EXR', 52);
export const PRD_PMR = field('PMR', 53);
export const PRD_RDR = field('RDR', 64);
export const PRD_WRR = field('WRR', 65);
export const PRD_LPIG = field('LPIG', 66);
export const PRD_PRGI = field('PRGI', 75, 67);
export const PRD_ADDR = addrField('ADDR', 127, 76);
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
  setField(q, PRD_TYPE, PRD_TYPE_PAGE_REQUEST);
  setField(q, PRD_PP, r.pasidPresent);
  setField(q, PRD_RID, r.rid);
  setField(q, PRD_PASID, r.pasid);
  setField(q, PRD_PMR, r.privileged);
  setField(q, PRD_RDR, r.read);
  setField(q, PRD_WRR, r.write);
  setField(q, PRD_LPIG, r.lpig);
  setField(q, PRD_PRGI, r.prgi);
  setAddr(q, PRD_ADDR, r.addr);
  return q;
}

export function decodePageRequest(q: readonly bigint[]): PageRequest {
  return {
    rid: Number(getField(q, PRD_RID)),
    pasidPresent: getField(q, PRD_PP) === 1n,
    pasid: Number(getField(q, PRD_PASID)),
    privileged: getField(q, PRD_PMR) === 1n,
    read: getField(q, PRD_RDR) === 1n,
    write: getField(q, PRD_WRR) === 1n,
    lpig: getField(q, PRD_LPIG) === 1n,
    prgi: Number(getField(q, PRD_PRGI)),
    addr: getAddr(q, PRD_ADDR),
  };
}

export function pageRequestFields(q: readonly bigint[]): Record<string, bigint | number | boolean> {
  return decodeFields(q, PRD_FIELDS);
}
