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
