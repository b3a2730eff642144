import type { DmaRequest, FaultRecord } from '@ioasid/core';
import { faultMeaning, faultName } from './fault-reasons.js';

/** What a translation produced, beyond the frame: for tests and the driver's page-request handling. */
export interface UnitFault extends FaultRecord {
  /** Index of the FRCD register that recorded it, -1 when not recorded (FPD, overflow, page request, a walk). */
  frcd: number;
}

/**
 * The record of `req` blocked (or sent to the page request queue) for reason `code`: the fields
 * FRCD holds, the reason's name and meaning, then `extra` (stage, level, …; it may override the
 * meaning where a code has more than one condition).
 */
export function faultRecord(req: DmaRequest, code: number, frcd: number, extra: Record<string, unknown>): UnitFault {
  const rec: UnitFault = {
    rid: req.rid,
    iova: BigInt(req.iovaFrame) << 12n,
    write: req.write,
    code,
    name: faultName(code) ?? `FR_0x${code.toString(16)}`,
    explain: faultMeaning(code),
    privileged: req.privileged,
    ...extra,
    frcd,
  };
  if (req.pasid >= 0) rec.pasid = req.pasid;
  return rec;
}
