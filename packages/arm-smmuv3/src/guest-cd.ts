import { getAddr, getField, type DumpBudget, type Stage2Memory } from '@ioasid/core';
import { CD_BYTES, CD_WORDS, decodeCd, type CdFields } from './tables/cd.js';
import { CD_SPLIT_4K, CD_SPLIT_64K, L1CD, L1CD_L2PTR } from './tables/l1-descriptors.js';
import { S1FMT_4K_L2, S1FMT_LINEAR } from './tables/ste.js';

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
export function readGuestCd(view: Stage2Memory, t: CdTablePointer, ssid: number): { gpa: number; words: Uint32Array; fields: CdFields } | null {
  if (ssid < 0 || ssid >= 2 ** t.s1cdmax) return null;
  let gpa: number;
  if (t.s1cdmax === 0 || t.s1fmt === S1FMT_LINEAR) {
    gpa = t.ctxPtr + ssid * CD_BYTES;
  } else {
    const split = t.s1fmt === S1FMT_4K_L2 ? CD_SPLIT_4K : CD_SPLIT_64K;
    const l1 = t.ctxPtr + Math.floor(ssid / 2 ** split) * 8;
    if (!view.rangeMapped(l1, 8)) return null;
    const d = view.readWords(l1, 2);
    if (!getField(d, 0, L1CD.V)) return null;
    gpa = getAddr(d, 0, L1CD_L2PTR) + (ssid % 2 ** split) * CD_BYTES;
  }
  if (!view.rangeMapped(gpa, CD_BYTES)) return null;
  const words = view.readWords(gpa, CD_WORDS);
  return { gpa, words, fields: decodeCd(words) };
}

/** Whether the guest CD at `gpa` has V = 1 (CD word 0 bit 31), reading one word. */
function cdValid(view: Stage2Memory, gpa: number): boolean {
  return view.rangeMapped(gpa, CD_BYTES) && (view.u32(gpa) & 0x8000_0000) !== 0;
}

/**
 * SubstreamIDs whose guest CD is valid (V = 1), in order, within `budget`: each CD and L1CD
 * examined costs a read and each valid CD an entry; when either runs out the scan stops and
 * sets `budget.truncated`. A two-level table is scanned through its valid L1 descriptors only.
 * A generator, so that a DUMP decodes each CD's tables from the same budget as it goes.
 */
export function* validGuestCds(view: Stage2Memory, t: CdTablePointer, budget: DumpBudget): Generator<number> {
  const total = 2 ** t.s1cdmax;
  const spend = (): boolean => {
    if (budget.reads <= 0 || budget.entries <= 0) {
      budget.truncated = true;
      return false;
    }
    budget.reads--;
    return true;
  };
  if (t.s1cdmax === 0 || t.s1fmt === S1FMT_LINEAR) {
    for (let ssid = 0; ssid < total; ssid++) {
      if (!spend()) return;
      if (!cdValid(view, t.ctxPtr + ssid * CD_BYTES)) continue;
      budget.entries--;
      yield ssid;
    }
    return;
  }
  const split = t.s1fmt === S1FMT_4K_L2 ? CD_SPLIT_4K : CD_SPLIT_64K;
  const leaf = Math.min(2 ** split, total);
  for (let l1 = 0; l1 * leaf < total; l1++) {
    if (!spend()) return;
    const at = t.ctxPtr + l1 * 8;
    if (!view.rangeMapped(at, 8)) continue;
    const d = view.readWords(at, 2);
    if (!getField(d, 0, L1CD.V)) continue;
    const l2 = getAddr(d, 0, L1CD_L2PTR);
    for (let i = 0; i < leaf; i++) {
      if (!spend()) return;
      if (!cdValid(view, l2 + i * CD_BYTES)) continue;
      budget.entries--;
      yield l1 * leaf + i;
    }
  }
}
