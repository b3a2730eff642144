import { CLASS_IN, CLASS_TT, EVENT } from '../tables/events.js';
import type { ContextConfig } from './context-config.js';
import type { WalkFault } from './lpae-walk.js';
import type { StreamConfig } from './stream-config.js';

/** A fault the walk ended in, before the unit decides about recording, stalling or PRI. */
export interface HwFault {
  /** Event number (SMMUEventType); 0 for an STE-configured abort, which records nothing. */
  readonly event: number;
  readonly sid: number;
  readonly ssid: number;
  readonly ssv: boolean;
  readonly stage?: 1 | 2;
  readonly cls?: number;
  readonly ipa?: number;
  readonly fetchAddr?: number;
  readonly lpaeLevel?: number;
  /** Translation-class fault recordable per CD.R / STE.S2R (config errors always record). */
  readonly recordable: boolean;
  /** The configuration asks for stalling this fault (CD.S with S1STALLD clear, or STE.S2S). */
  readonly stallable: boolean;
  /** Why a structure was ILLEGAL (C_BAD_STE, C_BAD_CD). */
  readonly reason?: string;
  /** Config of the stream (for ATC fills and PRI decisions), when the STE was good. */
  readonly ste?: StreamConfig;
}

const TRANSLATION_CLASS = new Set<number>([EVENT.F_TRANSLATION, EVENT.F_ADDR_SIZE, EVENT.F_ACCESS, EVENT.F_PERMISSION]);

/** A fault the stream's configuration gives a transaction (no table walk involved). */
export function streamFault(event: number, sid: number, ssid: number, ssv: boolean, ste: StreamConfig, reason?: string, recordable = true): HwFault {
  return reason === undefined
    ? { event, sid, ssid, ssv, recordable, stallable: false, ste }
    : { event, sid, ssid, ssv, recordable, stallable: false, ste, reason };
}

/**
 * The fault of a table walk: CLASS says what was being fetched (a CD, a stage 1 table, the input
 * address), and CD.R / CD.S or STE.S2R / STE.S2S decide recording and stalling (SMMUv3 §3.12).
 */
export function walkFault(f: WalkFault, ste: StreamConfig, ssid: number, ssv: boolean, cls: number, cd?: ContextConfig): HwFault {
  const translation = TRANSLATION_CLASS.has(f.event);
  const s2 = f.stage === 2;
  return {
    event: f.event,
    sid: ste.sid,
    ssid,
    ssv,
    stage: f.stage,
    cls: f.duringFetch ? cls : cls === CLASS_TT ? CLASS_IN : cls,
    ipa: f.ipa,
    fetchAddr: f.fetchAddr,
    lpaeLevel: f.lpaeLevel,
    recordable: !translation || (s2 ? ste.s2record : (cd?.record ?? true)),
    stallable: translation && (s2 ? ste.s2stall : !!cd?.stall && !ste.s1stalld),
    ste,
  };
}
