import { POW2, type TraceRead, type WalkTracer } from '@ioasid/core';
import {
  AF,
  DESC_TYPE_MASK,
  DESC_TYPE_PAGE,
  DESC_TYPE_TABLE,
  DESC_VALID,
  HI_APTABLE_NO_EL0,
  HI_APTABLE_RDONLY,
  S1_AP_RDONLY,
  S1_AP_UNPRIV,
  S2_AP_READ,
  S2_AP_WRITE,
  S2_MEMATTR_MASK,
  S2_MEMATTR_SHIFT,
  OA_HI_MASK,
} from '../formats/lpae-fields.js';
import { blockAllowed, levelShift, type LpaeGeometry } from '../formats/lpae-geometry.js';
import { EVENT } from '../tables/events.js';
import type { Bus } from './bus.js';
import { hardwareUpdate } from './httu.js';
import { AF_DECIDED, invalidReason, leafDecided, sizeDecided, tableDecided, traceDescriptor } from './trace-descriptors.js';

/** One stage of translation as the STE (stage 2) or CD (stage 1) configures it. */
export interface StageConfig {
  readonly geo: LpaeGeometry;
  readonly stage: 1 | 2;
  /** Top table address: a PA, or an IPA for stage 1 of a nested configuration. */
  readonly ttb: number;
  /** Effective output size: min(CD.IPS or STE.S2PS, IDR5.OAS). */
  readonly psBits: number;
  /** Access flag faults disabled (CD.AFFD / STE.S2AFFD). */
  readonly affd: boolean;
  /** Hardware update of the access flag (CD.HA / STE.S2HA, effective with SMMU_IDR0.HTTU >= 1). */
  readonly ha: boolean;
  /** Hardware update of dirty state (CD.HD / STE.S2HD, effective with SMMU_IDR0.HTTU = 2). */
  readonly hd: boolean;
}

/** Permission bits a translation grants (stage 1: privileged/unprivileged read/write; stage 2: read/write). */
export const P_PRIV_R = 1;
export const P_PRIV_W = 2;
export const P_USER_R = 4;
export const P_USER_W = 8;
export const P_S2_R = 16;
export const P_S2_W = 32;
export const P_S1_ALL = P_PRIV_R | P_PRIV_W | P_USER_R | P_USER_W;
export const P_S2_ALL = P_S2_R | P_S2_W;

export interface WalkLeaf {
  readonly ok: true;
  /** Output address of the leaf's first byte. */
  readonly outBase: number;
  /** log2 of the leaf's size. */
  readonly shift: number;
  readonly perms: number;
  readonly lpaeLevel: number;
  /** Stage 2 MemAttr (for S2PTW checks); 0 at stage 1. */
  readonly memAttr: number;
}

/** A fault of one stage, or of stage 2 while fetching for stage 1 (then `s2` and `ipa` are set). */
export interface WalkFault {
  readonly ok: false;
  readonly event: number;
  readonly stage: 1 | 2;
  readonly lpaeLevel: number;
  /** The stage-2 input address (for stage 2 faults). */
  readonly ipa?: number;
  /** Physical address of an aborted fetch (F_WALK_EABT). */
  readonly fetchAddr?: number;
  /** Set when a stage 2 fault happened while fetching a stage 1 table. */
  readonly duringFetch?: boolean;
}

/**
 * Translates a table address of stage 1 into the PA to read (identity, or stage 2 when nested);
 * with `write`, the PA the unit writes a descriptor update to (stage 2 must allow the write).
 */
export type TableFetch = (addr: number, write?: boolean) => number | WalkFault;

/** A fault of the stage being walked: stage 2 faults carry the input address as the IPA. */
function stageFault(event: number, stage: 1 | 2, lpaeLevel: number, input: number, fetchAddr?: number): WalkFault {
  if (stage === 2) {
    return fetchAddr === undefined ? { ok: false, event, stage, lpaeLevel, ipa: input } : { ok: false, event, stage, lpaeLevel, ipa: input, fetchAddr };
  }
  return fetchAddr === undefined ? { ok: false, event, stage, lpaeLevel } : { ok: false, event, stage, lpaeLevel, fetchAddr };
}

/** Where walkInto leaves a leaf (a walker reuses one, so a walk allocates nothing). */
export interface WalkResult {
  outBase: number;
  shift: number;
  perms: number;
  lpaeLevel: number;
  memAttr: number;
  /** The leaf descriptor's trace record (traced walks only; null otherwise). */
  read: TraceRead | null;
}

export function newWalkResult(): WalkResult {
  // outBase is a byte address (often above 2^31): NaN makes the field a double from the start.
  return { outBase: NaN, shift: 0, perms: 0, lpaeLevel: 0, memAttr: 0, read: null };
}

/**
 * Walks one stage from memory (Arm ARM D8: translation table walks). Reads only the bus, and
 * writes nothing: a walk for a read access, without hardware updates (see walkInto).
 */
export function walkStage(bus: Bus, cfg: StageConfig, input: number, fetch?: TableFetch): WalkLeaf | WalkFault {
  const r = newWalkResult();
  const f = walkInto(bus, cfg, input, fetch, r, null);
  return f ?? { ok: true, outBase: r.outBase, shift: r.shift, perms: r.perms, lpaeLevel: r.lpaeLevel, memAttr: r.memAttr };
}

/**
 * walkStage into `res`: null when a leaf was found (then `res` holds it), else the fault. With a
 * tracer, each descriptor read is recorded with the bits that decided the next step.
 *
 * Hardware translation table updates (SMMU_IDR0.HTTU, see hw/httu.ts): with `cfg.ha` a leaf whose
 * AF is 0 gets AF set instead of an Access flag fault; with `cfg.hd` and `write`, a
 * writable-clean leaf (DBM = 1, read-only by AP[2] / S2AP[1]) is made writable-dirty and the
 * write proceeds; a read leaves it read-only, so that the entry it fills cannot let a write skip
 * the update. Only the leaf this walk read is written, and only with `update` (a traced walk
 * computes the same answer and writes nothing).
 */
export function walkInto(
  bus: Bus,
  cfg: StageConfig,
  input: number,
  fetch: TableFetch | undefined,
  res: WalkResult,
  tracer: WalkTracer | null,
  write = false,
  update = false,
): WalkFault | null {
  const g = cfg.geo;
  const st = cfg.stage;
  if (input >= g.inputLimit) return stageFault(EVENT.F_TRANSLATION, st, g.startLevel, input);
  const psLimit = POW2[cfg.psBits];
  let table = cfg.ttb;
  if (table >= psLimit) return stageFault(EVENT.F_ADDR_SIZE, st, g.startLevel, input);
  const spans = g.spans;
  const entries = g.entries;
  const invSpans = g.invSpans;
  const invEntries = g.invEntries;
  const addrLo = g.addrLoMask;
  let noEl0 = false;
  let rdonly = false;
  for (let lvl = g.startLevel; lvl <= 3; lvl++) {
    const span = spans[lvl];
    // Index bits of this level. Spans and table sizes are powers of two, so multiplying by their
    // reciprocals is exact (no division, and no float modulo, which is a slow fmod call).
    const q = Math.floor(input * invSpans[lvl]);
    const idx = q - Math.floor(q * invEntries[lvl]) * entries[lvl];
    const descAddr = table + idx * 8;
    let pa = descAddr;
    if (fetch !== undefined) {
      const r = fetch(descAddr);
      if (typeof r !== 'number') return r;
      pa = r;
    }
    if (!bus.present(pa, 8)) return stageFault(EVENT.F_WALK_EABT, st, lvl, input, pa);
    let lo = bus.u32(pa);
    const hi = bus.u32(pa + 4);
    const tr = tracer === null ? null : traceDescriptor(tracer, st, g, lvl, idx, pa, lo, hi);
    const type = lo & DESC_TYPE_MASK;
    if ((lo & DESC_VALID) === 0) {
      if (tr !== null) tr.decided = invalidReason(g, lvl, lo);
      return stageFault(EVENT.F_TRANSLATION, st, lvl, input);
    }
    // Output address: bits 50:granule (bits 50:48 kept, so that a set bit is an Address size fault).
    let out = (hi & OA_HI_MASK) * 0x100000000 + ((lo & addrLo) >>> 0);
    if (lvl < 3 && type === DESC_TYPE_TABLE) {
      if (out >= psLimit) {
        if (tr !== null) tr.decided = sizeDecided('NLTA', out, cfg.psBits);
        return stageFault(EVENT.F_ADDR_SIZE, st, lvl, input);
      }
      if (st === 1) {
        noEl0 ||= (hi & HI_APTABLE_NO_EL0) !== 0;
        rdonly ||= (hi & HI_APTABLE_RDONLY) !== 0;
      }
      if (tr !== null) tr.decided = tableDecided(lvl, out);
      table = out;
      continue;
    }
    if (lvl === 3 ? type !== DESC_TYPE_PAGE : !blockAllowed(g.granule, lvl)) {
      if (tr !== null) tr.decided = invalidReason(g, lvl, lo);
      return stageFault(EVENT.F_TRANSLATION, st, lvl, input);
    }
    out = Math.floor(out * invSpans[lvl]) * span; // block output bits below the block size are RES0
    if (out >= psLimit) {
      if (tr !== null) tr.decided = sizeDecided('OA', out, cfg.psBits);
      return stageFault(EVENT.F_ADDR_SIZE, st, lvl, input);
    }
    const newLo = hardwareUpdate(cfg, lo, hi, write, rdonly);
    if ((newLo & AF) === 0 && !cfg.affd) {
      if (tr !== null) tr.decided = AF_DECIDED;
      return stageFault(EVENT.F_ACCESS, st, lvl, input);
    }
    if (newLo !== lo && update) {
      // The update is a write of the descriptor the walk read: at its PA, or (nested stage 1)
      // at the PA stage 2 gives for a write.
      let wpa = pa;
      if (fetch !== undefined) {
        const r = fetch(descAddr, true);
        if (typeof r !== 'number') return r;
        wpa = r;
      }
      bus.writeU32(wpa, newLo);
    }
    lo = newLo;
    if (tr !== null) tr.decided = leafDecided(lvl, out);
    let perms: number;
    let memAttr = 0;
    if (st === 1) {
      const ro = rdonly || (lo & S1_AP_RDONLY) !== 0;
      const user = !noEl0 && (lo & S1_AP_UNPRIV) !== 0;
      perms = P_PRIV_R | (ro ? 0 : P_PRIV_W) | (user ? P_USER_R : 0) | (user && !ro ? P_USER_W : 0);
    } else {
      perms = (lo & S2_AP_READ ? P_S2_R : 0) | (lo & S2_AP_WRITE ? P_S2_W : 0);
      memAttr = (lo >>> S2_MEMATTR_SHIFT) & S2_MEMATTR_MASK;
    }
    res.outBase = out;
    res.shift = levelShift(g, lvl);
    res.perms = perms;
    res.lpaeLevel = lvl;
    res.memAttr = memAttr;
    res.read = tr;
    return null;
  }
  return stageFault(EVENT.F_TRANSLATION, st, 3, input);
}

/** Whether `perms` allow the access; returns the failing stage (1 or 2) or 0. */
export function permissionFailure(perms: number, write: boolean, privileged: boolean): 0 | 1 | 2 {
  const s1 = privileged ? (write ? P_PRIV_W : P_PRIV_R) : write ? P_USER_W : P_USER_R;
  if ((perms & s1) === 0) return 1;
  if ((perms & (write ? P_S2_W : P_S2_R)) === 0) return 2;
  return 0;
}
