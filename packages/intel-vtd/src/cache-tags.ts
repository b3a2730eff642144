import { devTlbEncode, IOTLB_DOMAIN, IOTLB_PAGE, PC_PASID_SEL, PIOTLB_ALL_IN_PASID, PIOTLB_PAGE_IN_PASID, type InvDesc } from './tables/inv-desc.js';
import { PGTT_FL_ONLY, PGTT_PT } from './tables/pasid-entry.js';

/** Page-frame width Linux uses for "the whole address space" (MAX_AGAW_PFN_WIDTH). */
export const FULL_ORDER = 64 - 12;

/**
 * Aligned address and mask order covering [start, start+size) with one page-selective
 * invalidation (Linux drivers/iommu/intel/cache.c calculate_psi_aligned_address).
 */
export function psiAligned(start: bigint, size: bigint): { addr: bigint; mask: number } {
  const first = start >> 12n;
  const last = (start + size - 1n) >> 12n;
  const pages = last - first + 1n;
  let mask = 0;
  while (1n << BigInt(mask) < pages) mask++;
  const bitmask = (1n << BigInt(mask)) - 1n;
  if ((first & bitmask) !== 0n) {
    const shared = ~(first ^ last) & ~bitmask & ((1n << 52n) - 1n);
    if (shared === 0n) mask = FULL_ORDER;
    else {
      mask = 0;
      while (((shared >> BigInt(mask)) & 1n) === 0n) mask++;
    }
  }
  const align = 1n << BigInt(12 + mask);
  return { addr: start - (start % align), mask };
}

/** Where a domain is attached, as the invalidation paths need it (Linux struct cache_tag). */
export interface Attachment {
  rid: number;
  /** PASID of the PASID entry (0 = RID_PASID for a RID-level attach). */
  pasid: number;
  ridLevel: boolean;
  /** Device-TLB enabled in the context entry. */
  ats: boolean;
}

export interface FlushCaps {
  psi: boolean;
  mamv: number;
}

/** IOTLB invalidation of a second-level (or nesting-parent) range for one DID. */
export function iotlbFlush(did: number, range: { start: bigint; size: bigint } | null, caps: FlushCaps): InvDesc {
  if (range && caps.psi) {
    const { addr, mask } = psiAligned(range.start, range.size);
    if (mask <= caps.mamv) return { type: 'iotlb', gran: IOTLB_PAGE, did, addr, am: mask, ih: false, dr: true, dw: true };
  }
  return { type: 'iotlb', gran: IOTLB_DOMAIN, did, addr: 0n, am: 0, ih: false, dr: true, dw: true };
}

/** PASID-based IOTLB invalidation of a first-level range (or all of it) for (DID, PASID). */
export function piotlbFlush(did: number, pasid: number, range: { start: bigint; size: bigint } | null, caps: FlushCaps): InvDesc {
  if (range) {
    const { addr, mask } = psiAligned(range.start, range.size);
    if (mask <= caps.mamv) return { type: 'piotlb', gran: PIOTLB_PAGE_IN_PASID, did, pasid, addr, am: mask, ih: false };
  }
  return { type: 'piotlb', gran: PIOTLB_ALL_IN_PASID, did, pasid, addr: 0n, am: 0, ih: false };
}

/** Device-TLB invalidation for one attachment (type 3 for RID-level, type 8 PASID-based). */
export function devTlbFlush(a: Attachment, range: { start: bigint; size: bigint } | null): InvDesc {
  let addr = 0n;
  let order = FULL_ORDER;
  if (range) {
    const p = psiAligned(range.start, range.size);
    addr = p.addr;
    order = p.mask;
  }
  const e = devTlbEncode(addr, order);
  if (a.ridLevel) return { type: 'devtlb', sid: a.rid, pfsid: a.rid, qdep: 0, addr: e.addr, s: e.s };
  return { type: 'dev-piotlb', sid: a.rid, pfsid: a.rid, qdep: 0, pasid: a.pasid, addr: e.addr, s: e.s, g: false };
}

/**
 * The flushes after a present PASID entry changes or goes away (Linux pasid.c
 * intel_pasid_flush_present / intel_pasid_tear_down_entry): PASID cache for the PASID, the IOTLB
 * entries the old entry produced, and the device-TLB.
 */
export function pasidEntryChangeFlush(a: Attachment, oldDid: number, oldPgtt: number): InvDesc[] {
  const out: InvDesc[] = [{ type: 'pc', gran: PC_PASID_SEL, did: oldDid, pasid: a.pasid }];
  if (oldPgtt === PGTT_FL_ONLY || oldPgtt === PGTT_PT) out.push(piotlbFlush(oldDid, a.pasid, null, { psi: true, mamv: 0 }));
  else out.push(iotlbFlush(oldDid, null, { psi: false, mamv: 0 }));
  if (a.ats) out.push(devTlbFlush(a, null));
  return out;
}
