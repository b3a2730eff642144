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
  descOutAddr,
} from '../formats/lpae-fields.js';
import { blockAllowed, levelBits, levelShift, type LpaeGeometry } from '../formats/lpae-geometry.js';
import { EVENT } from '../tables/events.js';
import type { Bus } from './bus.js';

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

/** Translates a table address of stage 1 into the PA to read (identity, or stage 2 when nested). */
export type TableFetch = (addr: number) => number | WalkFault;

function fault(event: number, stage: 1 | 2, lpaeLevel: number, extra: Partial<WalkFault> = {}): WalkFault {
  return { ok: false, event, stage, lpaeLevel, ...extra };
}

/**
 * Walks one stage from memory (Arm ARM D8: translation table walks). Reads only the bus; never
 * writes (no hardware update of AF/dirty: IDR0.HTTU = 0).
 */
export function walkStage(bus: Bus, cfg: StageConfig, input: number, fetch?: TableFetch): WalkLeaf | WalkFault {
  const g = cfg.geo;
  const st = cfg.stage;
  const ipaOf = (lvl: number, extra: Partial<WalkFault> = {}): WalkFault =>
    fault(extra.event ?? EVENT.F_TRANSLATION, st, lvl, st === 2 ? { ipa: input, ...extra } : extra);
  if (input >= 2 ** g.ias) return ipaOf(g.startLevel);
  const psLimit = 2 ** cfg.psBits;
  let table = cfg.ttb;
  if (table >= psLimit) return ipaOf(g.startLevel, { event: EVENT.F_ADDR_SIZE });
  let noEl0 = false;
  let rdonly = false;
  for (let lvl = g.startLevel; lvl <= 3; lvl++) {
    const shift = levelShift(g, lvl);
    const idx = Math.floor(input / 2 ** shift) % 2 ** levelBits(g, lvl);
    const descAddr = table + idx * 8;
    let pa = descAddr;
    if (fetch) {
      const r = fetch(descAddr);
      if (typeof r !== 'number') return r;
      pa = r;
    }
    if (!bus.present(pa, 8)) return ipaOf(lvl, { event: EVENT.F_WALK_EABT, fetchAddr: pa });
    const lo = bus.u32(pa);
    const hi = bus.u32(pa + 4);
    if ((lo & DESC_VALID) === 0) return ipaOf(lvl);
    const type = lo & DESC_TYPE_MASK;
    if (lvl < 3 && type === DESC_TYPE_TABLE) {
      const next = descOutAddr(lo, hi, g.gshift);
      if (next >= psLimit) return ipaOf(lvl, { event: EVENT.F_ADDR_SIZE });
      if (st === 1) {
        noEl0 ||= (hi & HI_APTABLE_NO_EL0) !== 0;
        rdonly ||= (hi & HI_APTABLE_RDONLY) !== 0;
      }
      table = next;
      continue;
    }
    if (lvl === 3 ? type !== DESC_TYPE_PAGE : !blockAllowed(g.granule, lvl)) return ipaOf(lvl);
    let out = descOutAddr(lo, hi, g.gshift);
    out -= out % 2 ** shift; // block output bits below the block size are RES0
    if (out >= psLimit) return ipaOf(lvl, { event: EVENT.F_ADDR_SIZE });
    if ((lo & AF) === 0 && !cfg.affd) return ipaOf(lvl, { event: EVENT.F_ACCESS });
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
    return { ok: true, outBase: out, shift, perms, lpaeLevel: lvl, memAttr };
  }
  return ipaOf(3);
}

/** Whether `perms` allow the access; returns the failing stage (1 or 2) or 0. */
export function permissionFailure(perms: number, write: boolean, privileged: boolean): 0 | 1 | 2 {
  const s1 = privileged ? (write ? P_PRIV_W : P_PRIV_R) : write ? P_USER_W : P_USER_R;
  if ((perms & s1) === 0) return 1;
  if ((perms & (write ? P_S2_W : P_S2_R)) === 0) return 2;
  return 0;
}
