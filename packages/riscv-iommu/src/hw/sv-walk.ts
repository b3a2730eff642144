import type { TraceFieldValue } from '@ioasid/core';
import { PTE_A, PTE_D, PTE_R, PTE_U, PTE_V, PTE_W, pteIsLeaf, pteMalformed, ptePpn, SV_OUTPUT_BITS } from '../formats/sv-pte.js';
import { decodeSvPte } from '../formats/sv.js';
import type { SvMode } from '../tables/atp.js';
import { CAUSE } from '../tables/fault-catalogue.js';
import { inMemory, isFault, type WalkEnv, type WalkFault } from './walk-env.js';

/** One stage as the context structures configure it. */
export interface StageConfig {
  readonly mode: SvMode;
  /** G-stage (Svx4, 2 more input bits, no sign extension). */
  readonly x4: boolean;
  readonly root: number;
  /** A/D updating enabled for this stage (AMO_HWAD with DC.tc.SADE or GADE). */
  readonly ade: boolean;
}

export interface StageLeaf {
  /** Output frame of the requested page and the leaf's size in pages. */
  readonly frame: number;
  readonly pages: number;
  readonly r: boolean;
  readonly w: boolean;
  /** D is set in the leaf (or was set by this walk). */
  readonly dirty: boolean;
}

/** How a first-stage walk reaches its tables: the G-stage translation of each table address. */
export type TableFetch = (gpaFrame: number, write: boolean) => number | WalkFault;

export interface StageAccess {
  write: boolean;
  /** Supervisor-privilege request (PC.ta.ENS = 1) and PC.ta.SUM. */
  supervisor: boolean;
  sum: boolean;
}

const STAGE_NAME = { false: 'first-stage', true: 'G-stage' } as const;

function bitsAt(cfg: StageConfig, levels: number, level: number): number {
  return cfg.x4 && level === levels - 1 ? 11 : 9;
}

/**
 * The Sv walk of the privileged spec §4.3.2 / §9.5 for one stage: `vpn` (input page) to a leaf.
 * Page faults (first stage) or guest-page faults (G-stage) come back as WalkFaults; an entry
 * outside host memory is an access fault. `fetch` translates table addresses (first stage over a
 * G-stage); without it they are host addresses.
 */
export function svWalk(env: WalkEnv, cfg: StageConfig, vpn: number, acc: StageAccess, fetch?: TableFetch): StageLeaf | WalkFault {
  const levels = (cfg.mode - 12) / 9;
  const inBits = cfg.mode + (cfg.x4 ? 2 : 0) - 12;
  const pageFault = (why: string): WalkFault =>
    cfg.x4
      ? { cause: acc.write ? CAUSE.WRITE_GUEST_PAGE_FAULT : CAUSE.READ_GUEST_PAGE_FAULT, gpa: vpn * 4096, why }
      : { cause: acc.write ? CAUSE.WRITE_PAGE_FAULT : CAUSE.READ_PAGE_FAULT, recoverable: true, why };
  // Input range: a GPA must fit the G-stage (bits above zero); an IOVA must be sign-extended.
  if (cfg.x4) {
    if (vpn >= 2 ** inBits) return pageFault(`GPA above the ${cfg.mode}x4 input range`);
  } else {
    const half = 2 ** (inBits - 1);
    if (vpn >= half && vpn < 2 ** 52 - half) return pageFault(`IOVA not sign-extended from bit ${cfg.mode - 1}`);
  }
  const stage = STAGE_NAME[String(cfg.x4) as 'false' | 'true'];
  let table = cfg.root;
  for (let level = levels - 1; level >= 0; level--) {
    const bits = bitsAt(cfg, levels, level);
    const index = Math.floor(vpn / 2 ** (9 * level)) % 2 ** bits;
    let tableFrame = table;
    if (fetch) {
      env.tracer?.begin();
      const t = fetch(table + Math.floor(index / 512), false);
      env.tracer?.end();
      if (isFault(t)) return t;
      tableFrame = t - Math.floor(index / 512);
    }
    const pa = tableFrame * 4096 + index * 8;
    if (!inMemory(env, pa, 8)) return { cause: acc.write ? CAUSE.WRITE_ACCESS_FAULT : CAUSE.READ_ACCESS_FAULT, why: `${stage} PTE at 0x${pa.toString(16)} outside memory` };
    const lo = env.mem.u32(pa);
    const hi = env.mem.u32(pa + 4);
    const trace = (decided: string) =>
      env.tracer?.read({ structure: `${stage} PTE`, stage, level, index, addr: BigInt(pa), raw: [(BigInt(hi) << 32n) | BigInt(lo)], fields: decodeSvPte(lo, hi).fields as Record<string, TraceFieldValue>, decided });
    if ((lo & PTE_V) === 0) {
      trace('V = 0');
      return pageFault(`${stage} PTE at level ${level} not valid`);
    }
    if (pteMalformed(lo, hi)) {
      trace('reserved bits or encoding');
      return pageFault(`${stage} PTE at level ${level} malformed`);
    }
    const ppn = ptePpn(lo, hi);
    if (!pteIsLeaf(lo)) {
      if (level === 0) {
        trace('pointer at level 0');
        return pageFault(`${stage} pointer at level 0`);
      }
      trace('pointer');
      table = ppn;
      continue;
    }
    const pages = 2 ** (9 * level);
    if (ppn % pages !== 0) {
      trace('misaligned superpage');
      return pageFault(`${stage} superpage at level ${level} misaligned`);
    }
    // Permissions: the G-stage treats every access as user-mode (U must be 1).
    const u = (lo & PTE_U) !== 0;
    if (cfg.x4 || !acc.supervisor ? !u : u && !acc.sum) {
      trace(`U = ${u ? 1 : 0}`);
      return pageFault(`${stage} leaf U = ${u ? 1 : 0} refuses the request's privilege`);
    }
    const r = (lo & PTE_R) !== 0;
    const w = (lo & PTE_W) !== 0;
    if (acc.write ? !w : !r) {
      trace(acc.write ? 'W = 0' : 'R = 0');
      return pageFault(`${stage} leaf refuses the ${acc.write ? 'write' : 'read'}`);
    }
    const a = (lo & PTE_A) !== 0;
    const d = (lo & PTE_D) !== 0;
    if (!a || (acc.write && !d)) {
      if (!cfg.ade) {
        trace(!a ? 'A = 0' : 'D = 0');
        return pageFault(`${stage} leaf has ${!a ? 'A' : 'D'} clear and A/D updating is off`);
      }
      // A/D update (spec §2.6): an implicit write through the G-stage for a guest's first-stage entry.
      if (fetch && !env.tracer) {
        const wt = fetch(table + Math.floor(index / 512), true);
        if (isFault(wt)) return wt;
      }
      if (!env.tracer) {
        const words = env.mem.wordsForWrite(Math.floor(pa / 4096));
        const wi = env.mem.wordBase(Math.floor(pa / 4096)) + (pa % 4096) / 4;
        words[wi] = (words[wi] | PTE_A | (acc.write ? PTE_D : 0)) >>> 0;
      }
    }
    trace('leaf');
    return { frame: ppn + (vpn % pages), pages, r, w, dirty: d || acc.write };
  }
  return pageFault('walk ran out of levels');
}

export const SV_PA_BITS = SV_OUTPUT_BITS;
