import { POW2 } from '@ioasid/core';
import { EVENT, eventName } from '../tables/events.js';
import { EATS_ABT, EATS_DPT, EATS_SPLIT, EATS_TRANS, S1DSS_TERMINATE } from '../tables/ste.js';
import { ATC_READ, ATC_WRITE } from './atc.js';
import type { IdCaps } from './features.js';
import { permissionFailure } from './lpae-walk.js';
import type { StreamConfig } from './stream-config.js';
import type { StreamTableRegs } from './config-fetch.js';
import type { HwFault } from './hw-fault.js';
import type { Walker } from './walker.js';

/**
 * The ATS mode an STE gives its stream (SMMUv3 §5.2 STE.EATS): bypass STEs count as 0b00
 * whatever the field holds; split-stage (0b10) counts as 0b00 while SMMU_CR0.ATSCHK is 0;
 * 0b11 needs DPT (SMMU_IDR3.DPT, absent here) and otherwise behaves as 0b00.
 */
export function effectiveEats(ste: StreamConfig, atschk: boolean): number {
  if (ste.abort || ste.bypass || ste.eats === EATS_DPT) return EATS_ABT;
  if (ste.eats === EATS_SPLIT && !atschk) return EATS_ABT;
  return ste.eats;
}

/**
 * The endpoint's ATS Translation Request for the translation `walker` just made to `out`,
 * answered (SMMUv3 §5.2 STE.EATS): the ATC entry (frame × 4 + read/write bits) — the output
 * frame with full ATS, the IPA frame stage 1 produced with split-stage ATS — or −1 when the
 * STE gives the endpoint nothing to cache.
 */
export function atcEntry(walker: Walker, atschk: boolean, out: number, privileged: boolean): number {
  const eats = effectiveEats(walker.okSte!, atschk);
  if (eats !== EATS_TRANS && eats !== EATS_SPLIT) return -1;
  const perms = walker.okPerms;
  const rd = permissionFailure(perms, false, privileged) === 0 ? ATC_READ : 0;
  const wr = permissionFailure(perms, true, privileged) === 0 ? ATC_WRITE : 0;
  return (eats === EATS_SPLIT ? walker.okIpaFrame() : out) * 4 + rd + wr;
}

/** The unit state a Translated transaction is checked against. */
export interface TranslatedContext {
  readonly walker: Walker;
  readonly caps: IdCaps;
  readonly strtab: StreamTableRegs;
  readonly smmuen: boolean;
  /** SMMU_CR0.ATSCHK (RES0 without SMMU_IDR0.ATS). */
  readonly atschk: boolean;
}

function terminate(sid: number, event: number, reason: string): HwFault {
  return { event, sid, ssid: 0, ssv: false, recordable: event !== 0, stallable: false, reason };
}

/**
 * A PCIe Translated transaction (AT = translated) carrying `frame` (SMMUv3 §3.9.1.3): the
 * output frame, or how it ends. Event 0 terminates it without an event record. Without
 * SMMU_IDR3.PASIDTT the transaction has no SubstreamID, whatever PASID it carries.
 */
export function checkTranslated(c: TranslatedContext, sid: number, frame: number, write: boolean): number | HwFault {
  if (!c.caps.ats) return terminate(sid, 0, 'SMMU_IDR0.ATS is 0: this SMMU passes no Translated traffic');
  if (!c.smmuen) return terminate(sid, EVENT.F_TRANSL_FORBIDDEN, 'Translated transaction while SMMU_CR0.SMMUEN is 0');
  if (c.atschk) {
    // In the priority order of §3.9.1.3. Configuration errors abort the transaction; their
    // events are recorded only with SMMU_CR2.REC_CFG_ATS, which this unit does not implement.
    const ste = c.walker.streamConfig(sid, c.strtab, 0, false);
    if ('event' in ste) return terminate(sid, 0, `Translated transaction: ${eventName(ste.event)} (${ste.reason ?? 'fetch aborted'}), not recorded without SMMU_CR2.REC_CFG_ATS`);
    if (ste.abort) return terminate(sid, 0, 'Translated transaction on an STE whose Config is abort');
    const eats = effectiveEats(ste, true);
    if (eats === EATS_ABT) {
      return terminate(sid, EVENT.F_TRANSL_FORBIDDEN, ste.bypass ? 'SMMU_CR0.ATSCHK is 1 and STE.Config is bypass' : 'SMMU_CR0.ATSCHK is 1 and STE.EATS does not enable ATS');
    }
    if (ste.s1 && ste.s1cdmax > 0 && ste.s1dss === S1DSS_TERMINATE) {
      return terminate(sid, 0, 'Translated transaction: F_STREAM_DISABLED (S1DSS terminates traffic without a SubstreamID), not recorded without SMMU_CR2.REC_CFG_ATS');
    }
    if (eats === EATS_SPLIT) return c.walker.translateIpa(ste, frame, write);
  }
  // §3.9.1.1: a Translated address above the OAS is either truncated or aborted without an
  // event, IMPLEMENTATION DEFINED; this unit aborts.
  if (frame >= POW2[c.caps.oasBits - 12]) return terminate(sid, 0, `Translated address beyond the ${c.caps.oasBits}-bit OAS`);
  return frame;
}
