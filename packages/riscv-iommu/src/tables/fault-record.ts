import { bitField, getFieldBig } from '@ioasid/core';

/**
 * Fault-queue record (spec §3.2): 32 bytes. hdr (CAUSE, PID, PV, PRIV, TTYP, DID), a reserved
 * doubleword, iotval (the faulting IOVA) and iotval2 (for guest-page faults: the GPA shifted
 * right by 2, with bit 0 set when the fault came from an implicit access of a first-stage walk).
 */
export const FQ_HDR = {
  CAUSE: bitField('CAUSE', 11, 0),
  PID: bitField('PID', 31, 12),
  PV: bitField('PV', 32),
  PRIV: bitField('PRIV', 33),
  TTYP: bitField('TTYP', 39, 34),
  DID: bitField('DID', 63, 40),
} as const;

export const FQ_RECORD_BYTES = 32;

/** Table 12: transaction types. */
export const TTYP = {
  None: 0,
  UntranslatedExec: 1,
  UntranslatedRead: 2,
  UntranslatedWrite: 3,
  TranslatedExec: 5,
  TranslatedRead: 6,
  TranslatedWrite: 7,
  AtsRequest: 8,
  MessageRequest: 9,
} as const;

export interface FaultQueueRecord {
  cause: number;
  pid?: number;
  priv: boolean;
  ttyp: number;
  did: number;
  iotval: bigint;
  iotval2: bigint;
}

export function encodeFaultRecord(r: FaultQueueRecord): [bigint, bigint, bigint, bigint] {
  const hdr =
    BigInt(r.cause) |
    (r.pid !== undefined ? (BigInt(r.pid) << 12n) | (1n << 32n) : 0n) |
    (r.priv ? 1n << 33n : 0n) |
    (BigInt(r.ttyp) << 34n) |
    (BigInt(r.did) << 40n);
  return [hdr, 0n, r.iotval, r.iotval2];
}

export function decodeFaultRecord(q: readonly bigint[]): FaultQueueRecord {
  const pv = getFieldBig(q[0], FQ_HDR.PV) !== 0n;
  return {
    cause: Number(getFieldBig(q[0], FQ_HDR.CAUSE)),
    pid: pv ? Number(getFieldBig(q[0], FQ_HDR.PID)) : undefined,
    priv: getFieldBig(q[0], FQ_HDR.PRIV) !== 0n,
    ttyp: Number(getFieldBig(q[0], FQ_HDR.TTYP)),
    did: Number(getFieldBig(q[0], FQ_HDR.DID)),
    iotval: q[2],
    iotval2: q[3],
  };
}
