import type { DmaRequest, FaultRecord } from '@ioasid/core';
import { eventName, explainFault } from '../tables/events.js';
import { busAddress } from './event-record.js';
import type { HwFault } from './hw-fault.js';

const CLASS_NAME = ['CD', 'TT', 'IN'] as const;

/** A termination without an event record (SMMU_GBPA.ABORT, or an abort the architecture does not record). */
export function silentAbort(req: DmaRequest, name: 'ABORT' | 'GBPA_ABORT', reason?: string): FaultRecord {
  const rec: FaultRecord = { rid: req.rid, iova: busAddress(req.iovaFrame, req.offset), write: req.write, code: 0, name, explain: explainFault(name), recorded: false };
  if (reason) rec.reason = reason;
  return rec;
}

/**
 * The fault record of `f` as the unit reports it, before anything is recorded, stalled or sent
 * as a page request (a traced walk returns exactly this). `iova` is InputAddr, the address the
 * transaction carried (SMMUv3 §7.3).
 */
export function faultRecord(f: HwFault, req: DmaRequest, iova: bigint, translated: boolean): FaultRecord {
  const name = f.event === 0 ? 'ABORT' : eventName(f.event);
  const rec: FaultRecord = {
    rid: req.rid,
    iova,
    write: req.write,
    code: f.event,
    name,
    explain: explainFault(name),
    sid: f.sid,
    recorded: false,
  };
  if (translated) rec.translated = true;
  if (f.ssv) {
    rec.pasid = f.ssid;
    rec.ssid = f.ssid;
  }
  if (f.stage !== undefined) {
    rec.stage = f.stage;
    rec.s2 = f.stage === 2;
  }
  if (f.cls !== undefined) rec.class = CLASS_NAME[f.cls];
  if (f.ipa !== undefined) rec.ipa = BigInt(f.ipa);
  if (f.fetchAddr !== undefined) rec.fetchAddr = BigInt(f.fetchAddr);
  if (f.lpaeLevel !== undefined) rec.level = f.lpaeLevel;
  if (f.reason) rec.reason = f.reason;
  return rec;
}
