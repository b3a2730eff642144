import type { TraceFieldValue } from '@ioasid/core';
import { PTE_A, PTE_D, PTE_R, PTE_U, PTE_V, PTE_W, pteIsLeaf, pteMalformed, ptePpn, SV_OUTPUT_BITS } from '../formats/sv-pte.js';
import { decodeSvPte } from '../formats/sv.js';
import type { SvMode } from '../tables/atp.js';
import { CAUSE } from '../tables/fault-catalogue.js';
import { inMemory, isFault, type WalkEnv, type WalkFault } from './walk-env.js';

/** Pages one entry covers at each level (2^(9·level)), and their reciprocals: a walk multiplies. */
const SPAN = [1, 2 ** 9, 2 ** 18, 2 ** 27, 2 ** 36];
const INV_SPAN = SPAN.map((s) => 1 / s);

/** One stage as the context structures configure it (see stageConfig). */
export interface StageConfig {
  readonly mode: SvMode;
  /** G-stage (Svx4, 2 more input bits, no sign extension). */
  readonly x4: boolean;
  readonly root: number;
  /** A/D updating enabled for this stage (AMO_HWAD with DC.tc.SADE or GADE). */
  readonly ade: boolean;
  /** Derived from the mode: table levels, input pages without the x4 bits (2^(mode - 12)), and the root index mask. */
  readonly levels: number;
  readonly span: number;
  readonly rootMask: number;
}

export function stageConfig(mode: SvMode, x4: boolean, root: number, ade: boolean): StageConfig {
  return { mode, x4, root, ade, levels: (mode - 12) / 9, span: 2 ** (mode - 12), rootMask: x4 ? 2047 : 511 };
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

/**
 * A leaf as walkStage returns it, one number (a walk allocates nothing): the output frame of the
 * requested page · 64 + level · 8 + D · 4 + W · 2 + R. Its size is SPAN[level] pages; D is set in
 * the leaf or by this walk.
 */
export function leafFrame(x: number): number {
  return (x - (x & 63)) * (1 / 64);
}

export function leafPages(x: number): number {
  return SPAN[(x >> 3) & 7];
}

/** 1 read, 2 write, as the IOTLB's perms. */
export function leafPerms(x: number): number {
  return x & 3;
}

export function leafDirty(x: number): boolean {
  return (x & 4) !== 0;
}

/** How a first-stage walk reaches its tables: the G-stage translation of each table address. */
export type TableFetch = (gpaFrame: number, write: boolean) => number | WalkFault;

export interface StageAccess {
  write: boolean;
  /** Supervisor-privilege request (PC.ta.ENS = 1) and PC.ta.SUM. */
  supervisor: boolean;
  sum: boolean;
}

/** walkStage with the leaf as an object. */
export function svWalk(env: WalkEnv, cfg: StageConfig, vpn: number, acc: StageAccess, fetch?: TableFetch): StageLeaf | WalkFault {
  const x = walkStage(env, cfg, vpn, acc, fetch);
  if (typeof x !== 'number') return x;
  return { frame: leafFrame(x), pages: leafPages(x), r: (x & 1) !== 0, w: (x & 2) !== 0, dirty: leafDirty(x) };
}

/**
 * The Sv walk of the privileged spec §4.3.2 / §9.5 for one stage: `vpn` (input page) to a leaf
 * (see leafFrame). Page faults (first stage) or guest-page faults (G-stage) come back as
 * WalkFaults; an entry outside host memory is an access fault. `fetch` translates table addresses
 * (first stage over a G-stage); without it they are host addresses.
 */
export function walkStage(env: WalkEnv, cfg: StageConfig, vpn: number, acc: StageAccess, fetch?: TableFetch): number | WalkFault {
  // Input range: a GPA must fit the G-stage (bits above zero); an IOVA must be sign-extended.
  if (cfg.x4 ? vpn >= cfg.span * 4 : vpn >= cfg.span / 2 && vpn < 2 ** 52 - cfg.span / 2) return outOfRange(cfg, vpn, acc);
  const tracer = env.tracer;
  const top = cfg.levels - 1;
  // The page number as two int32s, so that each level's index is a shift: its low 29 bits (levels
  // 0-2, with an x4 root's two extra bits; `&` keeps a double's low bits exactly) and its bits
  // from 27 up (levels 3-4).
  const low = vpn & 0x1fffffff;
  const high = Math.floor(vpn * INV_SPAN[3]);
  let table = cfg.root;
  for (let level = top; level >= 0; level--) {
    const index = (level < 3 ? low >>> (9 * level) : high >>> (9 * (level - 3))) & (level === top ? cfg.rootMask : 511);
    let tableFrame = table;
    if (fetch) {
      tracer?.begin();
      const t = fetch(table + (index >>> 9), false);
      tracer?.end();
      if (isFault(t)) return t;
      tableFrame = t - (index >>> 9);
    }
    const pa = tableFrame * 4096 + index * 8;
    if (!inMemory(env, pa, 8)) return { cause: acc.write ? CAUSE.WRITE_ACCESS_FAULT : CAUSE.READ_ACCESS_FAULT, why: `${stageName(cfg)} PTE at 0x${pa.toString(16)} outside memory` };
    const lo = env.mem.u32(pa);
    const hi = env.mem.u32(pa + 4);
    const why = pteProblem(cfg, lo, hi, level, acc);
    if (why !== null) {
      if (tracer) trace(env, cfg, level, index, pa, lo, hi, why);
      if (why === 'pointer') {
        table = ptePpn(lo, hi);
        continue;
      }
      return pageFault(cfg, vpn, acc, `${stageName(cfg)} PTE at level ${level}: ${why}`);
    }
    const a = (lo & PTE_A) !== 0;
    const d = (lo & PTE_D) !== 0;
    if (!a || (acc.write && !d)) {
      if (!cfg.ade) {
        if (tracer) trace(env, cfg, level, index, pa, lo, hi, !a ? 'A = 0' : 'D = 0');
        return pageFault(cfg, vpn, acc, `${stageName(cfg)} leaf has ${!a ? 'A' : 'D'} clear and A/D updating is off`);
      }
      // A/D update (spec §2.6): an implicit write through the G-stage for a guest's first-stage entry.
      if (!tracer) {
        const wt = setAccessed(env, pa, acc.write, fetch, table + (index >>> 9));
        if (wt) return wt;
      }
    }
    if (tracer) trace(env, cfg, level, index, pa, lo, hi, 'leaf');
    const frame = ptePpn(lo, hi) + (vpn - Math.floor(vpn * INV_SPAN[level]) * SPAN[level]);
    return frame * 64 + level * 8 + (d || acc.write ? 4 : 0) + (lo & PTE_W ? 2 : 0) + (lo & PTE_R ? 1 : 0);
  }
  return pageFault(cfg, vpn, acc, 'walk ran out of levels');
}

/** Sets A (and D for a write) in the leaf at `pa`; a guest's table page (`fetch`) is first translated for writing. */
function setAccessed(env: WalkEnv, pa: number, write: boolean, fetch: TableFetch | undefined, tableGpa: number): WalkFault | undefined {
  if (fetch) {
    const wt = fetch(tableGpa, true);
    if (isFault(wt)) return wt;
  }
  const words = env.mem.wordsForWrite(Math.floor(pa / 4096));
  const wi = env.mem.wordBase(Math.floor(pa / 4096)) + (pa % 4096) / 4;
  words[wi] = (words[wi] | PTE_A | (write ? PTE_D : 0)) >>> 0;
  return undefined;
}

function outOfRange(cfg: StageConfig, vpn: number, acc: StageAccess): WalkFault {
  return pageFault(cfg, vpn, acc, cfg.x4 ? `GPA above the ${cfg.mode}x4 input range` : `IOVA not sign-extended from bit ${cfg.mode - 1}`);
}

/**
 * Why a valid-or-not entry stops the walk before its A/D bits are looked at (privileged spec
 * §4.3.2 steps 3–6), 'pointer' for a pointer to follow, or null for a leaf that grants the access.
 * The G-stage treats every access as user-mode: its leaves must have U (spec §2.3).
 */
function pteProblem(cfg: StageConfig, lo: number, hi: number, level: number, acc: StageAccess): string | null {
  if ((lo & PTE_V) === 0) return 'V = 0';
  if (pteMalformed(lo, hi)) return 'reserved bits or encoding';
  if (!pteIsLeaf(lo)) return level === 0 ? 'pointer at level 0' : 'pointer';
  if (level > 0) {
    const ppn = ptePpn(lo, hi);
    if (ppn - Math.floor(ppn * INV_SPAN[level]) * SPAN[level] !== 0) return 'misaligned superpage';
  }
  const u = (lo & PTE_U) !== 0;
  if (cfg.x4 || !acc.supervisor ? !u : u && !acc.sum) return `U = ${u ? 1 : 0}`;
  if (acc.write ? (lo & PTE_W) === 0 : (lo & PTE_R) === 0) return acc.write ? 'W = 0' : 'R = 0';
  return null;
}

function stageName(cfg: StageConfig): string {
  return cfg.x4 ? 'G-stage' : 'first-stage';
}

function pageFault(cfg: StageConfig, vpn: number, acc: StageAccess, why: string): WalkFault {
  return cfg.x4
    ? { cause: acc.write ? CAUSE.WRITE_GUEST_PAGE_FAULT : CAUSE.READ_GUEST_PAGE_FAULT, gpa: vpn * 4096, why }
    : { cause: acc.write ? CAUSE.WRITE_PAGE_FAULT : CAUSE.READ_PAGE_FAULT, recoverable: true, why };
}

function trace(env: WalkEnv, cfg: StageConfig, level: number, index: number, pa: number, lo: number, hi: number, decided: string): void {
  const stage = stageName(cfg);
  env.tracer!.read({ structure: `${stage} PTE`, stage, level, index, addr: BigInt(pa), raw: [(BigInt(hi) << 32n) | BigInt(lo)], fields: decodeSvPte(lo, hi).fields as Record<string, TraceFieldValue>, decided });
}

export const SV_PA_BITS = SV_OUTPUT_BITS;
