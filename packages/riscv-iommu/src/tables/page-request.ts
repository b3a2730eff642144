import { bitField, getFieldBig } from '@ioasid/core';

/**
 * Page-request queue record (spec §3.3): 16 bytes, a header (PID, PV, PRIV, EXEC, DID) and the
 * PCIe page-request payload (R, W, L, the page-request group index and the page address).
 */
export const PQ_HDR = {
  PID: bitField('PID', 31, 12),
  PV: bitField('PV', 32),
  PRIV: bitField('PRIV', 33),
  EXEC: bitField('EXEC', 34),
  DID: bitField('DID', 63, 40),
} as const;

export const PQ_PAYLOAD = {
  R: bitField('R', 0),
  W: bitField('W', 1),
  L: bitField('L', 2),
  PRGI: bitField('PRGI', 11, 3),
  ADDR: bitField('ADDR', 63, 12),
} as const;

export const PQ_RECORD_BYTES = 16;

export interface PageRequestRecord {
  did: number;
  pid?: number;
  priv: boolean;
  exec: boolean;
  read: boolean;
  write: boolean;
  last: boolean;
  prgi: number;
  /** Page address (bits 63:12 of the faulting address). */
  addr: bigint;
}

export function encodePageRequest(r: PageRequestRecord): [bigint, bigint] {
  const hdr =
    (r.pid !== undefined ? (BigInt(r.pid) << 12n) | (1n << 32n) : 0n) | (r.priv ? 1n << 33n : 0n) | (r.exec ? 1n << 34n : 0n) | (BigInt(r.did) << 40n);
  const payload = (r.read ? 1n : 0n) | (r.write ? 2n : 0n) | (r.last ? 4n : 0n) | (BigInt(r.prgi) << 3n) | (r.addr & ~0xfffn);
  return [hdr, payload];
}

export function decodePageRequest(q: readonly bigint[]): PageRequestRecord {
  const pv = getFieldBig(q[0], PQ_HDR.PV) !== 0n;
  return {
    did: Number(getFieldBig(q[0], PQ_HDR.DID)),
    pid: pv ? Number(getFieldBig(q[0], PQ_HDR.PID)) : undefined,
    priv: getFieldBig(q[0], PQ_HDR.PRIV) !== 0n,
    exec: getFieldBig(q[0], PQ_HDR.EXEC) !== 0n,
    read: getFieldBig(q[1], PQ_PAYLOAD.R) !== 0n,
    write: getFieldBig(q[1], PQ_PAYLOAD.W) !== 0n,
    last: getFieldBig(q[1], PQ_PAYLOAD.L) !== 0n,
    prgi: Number(getFieldBig(q[1], PQ_PAYLOAD.PRGI)),
    addr: q[1] & ~0xfffn,
  };
}
