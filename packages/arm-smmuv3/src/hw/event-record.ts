import { EVT, encodeEvent, hasInputAddr } from '../tables/events.js';
import type { HwFault } from './hw-fault.js';

/**
 * InputAddr: the address a request carried on the bus in page `frame` (its own input page, or
 * the page the endpoint's ATC supplied), unaligned as it came (SMMUv3 §7.3; QEMU
 * smmuv3_translate passes the whole address to EVT_SET_ADDR): the page and the request's byte
 * offset in it.
 */
export function busAddress(frame: number, offset = 0): bigint {
  return BigInt(frame) * 4096n + BigInt(offset);
}

/**
 * Bits [lo + width − 1 : lo] of an address, as a record field holds them: the IPA[51:12] and
 * FetchAddr[51:3] fields of an event carry only those bits of the address (SMMUv3 §7.3); a
 * configuration address computed past bit 51 (a pointer near 2^52 plus an index) keeps its
 * full value in the fault record returned with the DmaFault.
 */
function fieldBits(addr: number, lo: number, width: number): number {
  return Number((BigInt(Math.floor(addr)) >> BigInt(lo)) & ((1n << BigInt(width)) - 1n));
}

/** The access as the event record states it (PnU after any override). */
export interface RecordedAccess {
  write: boolean;
  privileged: boolean;
  stag: number;
  stall: boolean;
}

/** The 32-byte event record of fault `f` at InputAddr `iova` (SMMUv3 §7.3 layouts). */
export function eventRecord(f: HwFault, iova: bigint, a: RecordedAccess): Uint32Array {
  return encodeEvent({
    TYPE: f.event,
    SSV: f.ssv ? 1 : 0,
    SSID: f.ssv ? f.ssid : 0,
    SID: f.sid,
    STAG: a.stag,
    STALL: a.stall ? 1 : 0,
    PnU: a.privileged ? 1 : 0,
    RnW: a.write ? 0 : 1,
    S2: f.stage === 2 ? 1 : 0,
    CLASS: f.cls ?? 0,
    ADDR: hasInputAddr(f.event) ? iova : 0n,
    IPA: f.stage === 2 && f.ipa !== undefined ? fieldBits(f.ipa, 12, EVT.IPA.width) : undefined,
    FETCH_ADDR: f.fetchAddr !== undefined ? fieldBits(f.fetchAddr, 3, EVT.FETCH_ADDR.width) : undefined,
  });
}
