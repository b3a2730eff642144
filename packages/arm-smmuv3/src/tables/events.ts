import { type BitField, addrField, dwField, getAddrWords, getField, setAddrWords, setField } from '@ioasid/core';

/**
 * Event queue records: 32 bytes (4 doublewords), SMMUv3 §7.3. Event numbers as QEMU
 * hw/arm/smmuv3-internal.h SMMUEventType (and Linux EVT_ID_*); fields as Linux EVTQ_* and
 * QEMU EVT_SET_*.
 */
export const EVT_BYTES = 32;
export const EVT_WORDS = 8;

export const EVENT = {
  F_UUT: 0x01,
  C_BAD_STREAMID: 0x02,
  F_STE_FETCH: 0x03,
  C_BAD_STE: 0x04,
  F_BAD_ATS_TREQ: 0x05,
  F_STREAM_DISABLED: 0x06,
  F_TRANSL_FORBIDDEN: 0x07,
  C_BAD_SUBSTREAMID: 0x08,
  F_CD_FETCH: 0x09,
  C_BAD_CD: 0x0a,
  F_WALK_EABT: 0x0b,
  F_TRANSLATION: 0x10,
  F_ADDR_SIZE: 0x11,
  F_ACCESS: 0x12,
  F_PERMISSION: 0x13,
  F_TLB_CONFLICT: 0x20,
  F_CFG_CONFLICT: 0x21,
  E_PAGE_REQUEST: 0x24,
} as const;
export type EventName = keyof typeof EVENT;

/**
 * What each event number means, one line each, paraphrasing the event descriptions of the
 * SMMUv3 architecture (IHI 0070, §7.3.2–§7.3.19). A fault record carries the line as `explain`.
 */
export const EVENT_MEANING: Readonly<Record<EventName, string>> = {
  F_UUT: 'the device issued a kind of transaction the SMMU does not support or that its bus does not allow',
  C_BAD_STREAMID: 'the StreamID is outside the stream table: at or above 2^LOG2SIZE, or not covered by the Span of its level 1 descriptor',
  F_STE_FETCH: 'reading the stream table entry ended in an external abort or used an address beyond the supported range',
  C_BAD_STE: 'the stream table entry is not usable: V is 0, a reserved encoding is set, or its fields contradict each other or the SMMU features',
  F_BAD_ATS_TREQ: 'an ATS Translation Request came from a stream whose STE does not allow ATS, or while the SMMU is disabled',
  F_STREAM_DISABLED: 'the STE refuses traffic without a SubstreamID (S1DSS = terminate), or SubstreamID 0 while CD 0 serves that traffic',
  F_TRANSL_FORBIDDEN: 'a PCIe transaction marked Translated may not bypass the SMMU: the SMMU is disabled, or ATS checking is on and the STE does not enable ATS',
  C_BAD_SUBSTREAMID: 'the SubstreamID cannot be used: the stream has no stage 1 or no CD table, the SubstreamID is beyond S1CDMax, or its level 1 CD descriptor is invalid',
  F_CD_FETCH: 'reading a context descriptor or a level 1 CD descriptor ended in an external abort',
  C_BAD_CD: 'the context descriptor is not usable: V is 0 or its configuration is ILLEGAL',
  F_WALK_EABT: 'reading a translation table descriptor, at either stage, ended in an external abort',
  F_TRANSLATION: 'no valid translation: the address is outside the range the stage covers, its table is disabled, or the walk met an invalid descriptor',
  F_ADDR_SIZE: 'an address is too wide: a descriptor gave an output beyond the stage output size, or, with stage 1 bypassed, the input is beyond the supported range',
  F_ACCESS: 'the page or block descriptor has its Access flag clear and the SMMU does not set it by hardware',
  F_PERMISSION: 'the translation exists but does not allow this access (read, write or privilege level) at the stage that faulted',
  F_TLB_CONFLICT: 'the transaction matched TLB entries that conflict with each other',
  F_CFG_CONFLICT: 'the transaction matched configuration cache entries that conflict with each other',
  E_PAGE_REQUEST: 'a device hinted that it will soon access the given address range',
};

/** Terminations the architecture makes without an event record (the record's `reason` says which). */
export const ABORT_MEANING = {
  ABORT: 'the transaction was terminated with an abort in a case where the architecture records no event',
  GBPA_ABORT: 'the SMMU is disabled (SMMU_CR0.SMMUEN = 0) and SMMU_GBPA.ABORT terminates every incoming transaction',
} as const;

/** The one-line meaning of a fault record name (an event name, ABORT or GBPA_ABORT). */
export function explainFault(name: string): string {
  if (Object.hasOwn(EVENT_MEANING, name)) return EVENT_MEANING[name as EventName];
  if (Object.hasOwn(ABORT_MEANING, name)) return ABORT_MEANING[name as keyof typeof ABORT_MEANING];
  return `event ${name} is not one the architecture defines`;
}

export const EVT = {
  TYPE: dwField('TYPE', 0, 7, 0),
  SSV: dwField('SSV', 0, 11),
  SSID: dwField('SSID', 0, 31, 12),
  SID: dwField('SID', 0, 63, 32),
  STAG: dwField('STAG', 1, 15, 0),
  STALL: dwField('STALL', 1, 31),
  PnU: dwField('PnU', 1, 33),
  InD: dwField('InD', 1, 34),
  RnW: dwField('RnW', 1, 35),
  S2: dwField('S2', 1, 39),
  CLASS: dwField('CLASS', 1, 41, 40),
  /**
   * InputAddr[63:0]: the whole of dword 2 (Linux EVTQ_2_ADDR, QEMU EVT_SET_ADDR). Wider than a
   * double holds exactly, so it is read and written as a bigint (encodeEvent / decodeEvent).
   */
  ADDR: addrField(dwField('ADDR', 2, 63, 0)),
  /** Stage 2 faults: faulting IPA[51:12] (Linux EVTQ_3_IPA). */
  IPA: dwField('IPA', 3, 51, 12),
  /** F_STE_FETCH / F_CD_FETCH / F_WALK_EABT: fetch address[51:3]. */
  FETCH_ADDR: dwField('FETCH_ADDR', 3, 51, 3),
} as const satisfies Record<string, BitField>;
export type EvtFieldName = keyof typeof EVT;

/**
 * Events whose record holds InputAddr in doublewords 2–3 (SMMUv3 §7.3 record layouts); the
 * others leave them RES0 or put a fetch address in doubleword 3.
 */
const WITH_INPUT_ADDR: ReadonlySet<number> = new Set([
  EVENT.F_UUT,
  EVENT.F_TRANSL_FORBIDDEN,
  EVENT.F_WALK_EABT,
  EVENT.F_TRANSLATION,
  EVENT.F_ADDR_SIZE,
  EVENT.F_ACCESS,
  EVENT.F_PERMISSION,
  EVENT.F_TLB_CONFLICT,
]);

export function hasInputAddr(event: number): boolean {
  return WITH_INPUT_ADDR.has(event);
}

/** CLASS: what the walk was doing when the fault happened. */
export const CLASS_CD = 0;
export const CLASS_TT = 1;
export const CLASS_IN = 2;

/** An event record's fields: InputAddr as a bigint (64 bits), the others as numbers. */
export type EventFields = Record<Exclude<EvtFieldName, 'ADDR'>, number> & { ADDR: bigint };
export type EventValues = Partial<Record<Exclude<EvtFieldName, 'ADDR'>, number>> & { ADDR?: bigint | number };

export function encodeEvent(values: EventValues): Uint32Array {
  const w = new Uint32Array(EVT_WORDS);
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) continue;
    if (k === 'ADDR') setAddrWords(w, 0, EVT.ADDR, BigInt(v));
    else setField(w, 0, EVT[k as EvtFieldName], v as number);
  }
  return w;
}

export function decodeEvent(w: ArrayLike<number>, base = 0): EventFields {
  const out = {} as Record<string, number | bigint>;
  for (const k of Object.keys(EVT) as EvtFieldName[]) out[k] = k === 'ADDR' ? getAddrWords(w, base, EVT.ADDR) : getField(w, base, EVT[k]);
  return out as EventFields;
}

export function eventName(type: number): string {
  for (const [k, v] of Object.entries(EVENT)) if (v === type) return k;
  return `EVENT_0x${type.toString(16)}`;
}
