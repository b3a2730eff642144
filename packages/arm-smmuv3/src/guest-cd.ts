import { getAddr, getField } from '@ioasid/core';
import { CD_BYTES, CD_WORDS, decodeCd, type CdFields } from './tables/cd.js';
import { CD_SPLIT_4K, CD_SPLIT_64K, L1CD, L1CD_L2PTR } from './tables/l1-descriptors.js';
import { S1FMT_4K_L2, S1FMT_LINEAR } from './tables/ste.js';
import type { Stage2View } from './stage2-view.js';

export interface CdTablePointer {
  ctxPtr: number;
  s1fmt: number;
  s1cdmax: number;
}

/**
 * The kernel reading a guest's CD table through the stage 2 it owns (to find the ASID behind a
 * SubstreamID for INVALIDATE_CACHE, and for DUMP/LOOKUP). Returns the CD's GPA and fields, or
 * null when the guest table does not lead to one.
 */
export function readGuestCd(view: Stage2View, t: CdTablePointer, ssid: number): { gpa: number; words: Uint32Array; fields: CdFields } | null {
  if (ssid < 0 || ssid >= 2 ** t.s1cdmax) return null;
  let gpa: number;
  if (t.s1cdmax === 0 || t.s1fmt === S1FMT_LINEAR) {
    gpa = t.ctxPtr + ssid * CD_BYTES;
  } else {
    const split = t.s1fmt === S1FMT_4K_L2 ? CD_SPLIT_4K : CD_SPLIT_64K;
    const l1 = t.ctxPtr + Math.floor(ssid / 2 ** split) * 8;
    if (!view.mapped(l1, 8)) return null;
    const d = view.read(l1, 2);
    if (!getField(d, 0, L1CD.V)) return null;
    gpa = getAddr(d, 0, L1CD_L2PTR) + (ssid % 2 ** split) * CD_BYTES;
  }
  if (!view.mapped(gpa, CD_BYTES)) return null;
  const words = view.read(gpa, CD_WORDS);
  return { gpa, words, fields: decodeCd(words) };
}

/** SubstreamIDs whose guest CD is valid (V = 1), scanning at most `limit` entries. */
export function validGuestCds(view: Stage2View, t: CdTablePointer, limit = 4096): number[] {
  const out: number[] = [];
  const n = Math.min(2 ** t.s1cdmax, limit);
  for (let ssid = 0; ssid < n; ssid++) {
    const cd = readGuestCd(view, t, ssid);
    if (cd && cd.fields.V) out.push(ssid);
  }
  return out;
}
