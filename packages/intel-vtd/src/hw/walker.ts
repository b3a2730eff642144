import { toFrame, type HostMemory, type WalkTracer } from '@ioasid/core';
import { FL_A, FL_D, FL_P, FL_PAT_LARGE, FL_RW, FL_US, FirstLevelFormat } from '../formats/first-level.js';
import { ADDR_HI_MASK, ADDR_LO_MASK } from '../formats/pte-common.js';
import { SL_A, SL_D, SL_PS, SL_R, SL_W, SecondLevelFormat, slReservedHi, slReservedLo } from '../formats/second-level.js';
import { FR } from './fault-reasons.js';
import type { PhysBus } from './phys-bus.js';
import { firstStageRead, secondStageRead } from './trace-paging.js';

/** Result of a page walk: the 4 KiB output frame asked for, the page it lies in and the rights along the way. */
export interface WalkOut {
  frame: number;
  shift: number;
  read: boolean;
  write: boolean;
  user: boolean;
  /** Level (0-based) the walk stopped at, for fault records. */
  level: number;
  /** Where a fault was met: STAGE_FIRST, STAGE_SECOND or STAGE_TABLE_FETCH. */
  stage: number;
  /**
   * Whether a write through this translation needs no further walk: false only when second-stage
   * A/D is enabled (SSADE) and the second-stage leaf's D flag is clear, so that a cached copy of
   * it must not serve a write (the write walks again to set D).
   */
  dirty: boolean;
}

/** A fault in the first-stage walk itself. */
export const STAGE_FIRST = 0;
/** A fault in the second-stage walk of the request's address (second-stage only, or a nested output GPA). */
export const STAGE_SECOND = 1;
/** Nested: a fault in the second-stage walk of a first-stage table's guest-physical address. */
export const STAGE_TABLE_FETCH = 2;
/** Each stage as fault records and traces name it. */
export const STAGE_NAMES = ['first-level', 'second-level', 'second-level (first-level table fetch)'] as const;

export function newWalkOut(): WalkOut {
  return { frame: 0, shift: 12, read: false, write: false, user: false, level: 0, stage: STAGE_FIRST, dirty: true };
}

/**
 * The reason for a second-stage fault met while fetching a first-stage table in a nested walk
 * (VT-d §7.1.3: the first-stage conditions that are specific to nested translation). Faults in
 * the second-stage structures themselves keep their second-stage reason.
 */
function tableFetchFault(code: number, top: boolean): number {
  if (code === FR.SM_ADDR_BEYOND_MGAW) return FR.NESTED_FS_ADDR_BEYOND_MGAW;
  if (code === FR.SM_READ) return top ? FR.NESTED_FS_PML4E_READ : FR.NESTED_FS_PAGING_ENTRY_READ;
  return code;
}

export interface FirstLevelParams {
  /** Byte address of the top table (HPA for first-level only, GPA for nested). */
  root: number;
  levels: 4 | 5;
  sre: boolean;
  wpe: boolean;
  /** Nested: the second-level table every first-level address goes through, and its PASID entry's SSADE. */
  nested?: { root: number; levels: number; ssade?: boolean };
}

/** Input frames one entry spans at each level (512^level). */
const SPAN = [1, 512, 512 ** 2, 512 ** 3, 512 ** 4, 512 ** 5];
/** Input frames under one level-3 entry (2^27), where the walker splits the input frame. */
const SPAN_27 = 512 ** 3;
/** Slots of Walker.slRules: three per level, and the high-word mask in the fourth slot of level 0. */
const RULE_PS_LEAF = 0;
const RULE_RSVD_LEAF = 1;
const RULE_RSVD_TABLE = 2;
const RULE_RSVD_HI = 3;

/**
 * The hardware page walker: reads only physical memory through the bus, with the entry layouts
 * of ../formats (the same field definitions the driver writes with). Numbers only on this path.
 */
export class Walker {
  /** Second-level formats by level count (their reserved-bit rules), first-level by level count. */
  private readonly sl: SecondLevelFormat[] = [];
  private readonly fl: FirstLevelFormat[] = [];
  /** Second-level input frames below this limit per level count (the smaller of the table's reach and MGAW). */
  private readonly slLimit: number[] = [];
  private readonly slOut = newWalkOut();
  /** Scratch for the second-level check of an A/D update. */
  private readonly adOut = newWalkOut();
  /** Set while the unit traces a walk (IommuUnit.walk): every entry read is recorded into it. */
  tracer: WalkTracer | null = null;
  /** Set while the unit walks for a debugger: A/D updates are checked but never written. */
  dryRun = false;
  private readonly host: HostMemory;
  /** Frames with memory behind them (a table at or above is an access error). */
  private readonly memoryFrames: number;
  /**
   * Second-level rules decoded once from SecondLevelFormat, 4 per level (0–4): SL_PS where a
   * leaf may sit at that level, reserved low-word bits of a leaf and of a table entry, and (at
   * RULE_RSVD_HI) the reserved high-word bits of every level (above HAW, TM).
   */
  private readonly slRules = new Int32Array(20);

  constructor(
    private readonly bus: PhysBus,
    readonly haw: number,
    /** CAP.MGAW + 1: no second-level input at or above 2^mgaw. */
    readonly mgaw: number,
    readonly sllps: number,
    readonly fl1gp: boolean,
  ) {
    for (const l of [3, 4, 5] as const) {
      this.sl[l] = new SecondLevelFormat({ levels: l, sllps, haw });
      this.slLimit[l] = 2 ** (Math.min(12 + 9 * l, mgaw) - 12);
    }
    this.host = bus.host;
    this.memoryFrames = bus.host.limit / 4096;
    const f = this.sl[5];
    for (let l = 0; l < 5; l++) {
      this.slRules[RULE_PS_LEAF + 4 * l] = l > 0 && f.leafAllowed(l) ? SL_PS : 0;
      this.slRules[RULE_RSVD_LEAF + 4 * l] = slReservedLo(l, true);
      this.slRules[RULE_RSVD_TABLE + 4 * l] = slReservedLo(l, false) | (l > 0 && !f.leafAllowed(l) ? SL_PS : 0);
    }
    this.slRules[RULE_RSVD_HI] = slReservedHi(haw);
    for (const l of [4, 5] as const) this.fl[l] = new FirstLevelFormat({ levels: l, fl1gp, haw });
  }

  /**
   * Second-level walk of input frame `inFrame` (QEMU vtd_iova_to_slpte): each level must be present
   * (R or W set) and grant the access asked; returns 0 or a scalable-mode fault reason (VT-d
   * §7.1.3: an input beyond the table's width is SM_ADDR_BEYOND_MGAW, which a nested caller turns
   * into its own reason). With `ssade` (second-stage A/D enabled in the PASID entry), see setAd.
   */
  walkSecondLevel(root: number, levels: number, inFrame: number, write: boolean, out: WalkOut, ssade = false): number {
    if (inFrame >= this.slLimit[levels]) {
      out.level = levels - 1;
      return FR.SM_ADDR_BEYOND_MGAW;
    }
    const host = this.host;
    const need = write ? SL_W : SL_R;
    const rules = this.slRules;
    const tracer = this.tracer;
    // The input frame is below 2^45 (MGAW ≤ 57): index bits 26:0 (levels 0–2) and 44:27
    // (levels 3–4) as two integers, so each level's index is a shift and a mask.
    // (ToInt32 keeps the low 27 bits of any integer below 2^53.)
    const upper = levels > 3 ? Math.floor(inFrame / SPAN_27) : 0;
    const lower = inFrame & 0x7ffffff;
    let table = root;
    let rw = SL_R | SL_W;
    for (let l = levels - 1; l >= 0; l--) {
      const idx = l < 3 ? (lower >>> (9 * l)) & 511 : (upper >>> (9 * l - 27)) & 511;
      // The entry (8 bytes at table·4096 + idx·8) lies in memory exactly when its table does.
      if (!(table < this.memoryFrames)) {
        out.level = l;
        return l === levels - 1 ? FR.PASID_ENTRY_SSPTPTR_INV : FR.SS_PAGING_ENTRY_INV;
      }
      // One look-up of the memory holding the table, then both words of the entry.
      const words = host.wordsForRead(table);
      const wi = host.wordBase(table) + 2 * idx;
      const lo = words[wi];
      const hi = words[wi + 1];
      rw &= lo;
      // A leaf: any PTE, or PS where SLLPS has the size (SecondLevelFormat.isLeaf).
      const leaf = l === 0 || (lo & rules[RULE_PS_LEAF + 4 * l]) !== 0;
      // Present, access, then reserved bits (SecondLevelFormat.reservedAs, with its per-level masks).
      const rsvdLo = lo & rules[(leaf ? RULE_RSVD_LEAF : RULE_RSVD_TABLE) + 4 * l];
      const rsvdHi = hi & rules[RULE_RSVD_HI];
      if ((lo & need) === 0 || (rsvdLo | rsvdHi) !== 0) {
        out.level = l;
        const code = (lo & (SL_R | SL_W)) === 0 ? FR.SS_PAGING_ENTRY_P : (lo & need) === 0 ? (write ? FR.SM_WRITE : FR.SM_READ) : FR.SS_PAGING_ENTRY_RSVD;
        if (tracer !== null) tracer.read(secondStageRead(l, table, idx, lo, hi, code, leaf, rsvdLo, rsvdHi));
        return code;
      }
      if (tracer !== null) tracer.read(secondStageRead(l, table, idx, lo, hi, 0, leaf, 0, 0));
      if (ssade) out.dirty = this.setAd(table, idx, lo, leaf, write);
      const next = (hi & ADDR_HI_MASK) * 0x100000 + (lo >>> 12);
      if (leaf) {
        out.level = l;
        // Frame within a large page: input bits 8:0 (2 MiB) or 17:0 (1 GiB).
        out.frame = l === 0 ? next : next + (lower & (l === 1 ? 0x1ff : 0x3ffff));
        out.shift = 12 + 9 * l;
        out.read = (rw & SL_R) !== 0;
        out.write = (rw & SL_W) !== 0;
        out.user = true;
        if (!ssade) out.dirty = true;
        return 0;
      }
      table = next;
    }
    out.level = 0;
    return FR.SS_PAGING_ENTRY_INV;
  }

  /**
   * Second-stage accessed/dirty flags with SSADE = 1 (VT-d spec, second-stage paging entries: A is
   * bit 8 of every entry, D bit 9 of a leaf; Linux DMA_SL_PTE_DIRTY_BIT): an entry the walk used is
   * marked accessed, a leaf used by a write also dirty, in memory, in the entry just read. A dry
   * run (a debugger's walk) writes nothing. Returns whether the leaf's D is (now) set.
   */
  private setAd(table: number, idx: number, lo: number, leaf: boolean, write: boolean): boolean {
    const bits = ((lo & SL_A) === 0 ? SL_A : 0) | (leaf && write && (lo & SL_D) === 0 ? SL_D : 0);
    if (bits !== 0 && !this.dryRun) this.bus.orLo(table * 4096 + idx * 8, bits);
    return leaf && (write || (lo & SL_D) !== 0);
  }

  /**
   * First-level walk (QEMU vtd_iova_to_flpte), optionally nested: every table pointer and the
   * output are guest-physical and go through the second level. `updateAD` lets the walk set
   * accessed/dirty flags as hardware does on a real access (checked but not written in a dry run).
   * Traced, each table fetch's second-stage walk is bracketed so that it shows under the entry it
   * found; the second-stage walk of the output follows the leaf.
   */
  walkFirstLevel(p: FirstLevelParams, inFrame: number, write: boolean, privileged: boolean, out: WalkOut, updateAD: boolean): number {
    const fmt = this.fl[p.levels];
    const inBits = p.levels === 4 ? 48 : 57;
    // Canonical: bits 63:inBits-1 all equal. Frames hold bits 63:12.
    const top = Math.floor(inFrame / 2 ** (inBits - 1 - 12));
    const ones = 2 ** (64 - inBits + 1) - 1;
    out.stage = STAGE_FIRST;
    if (top !== 0 && top !== ones) {
      out.level = p.levels - 1;
      return FR.FS_NON_CANONICAL;
    }
    const tracer = this.tracer;
    const so = this.slOut;
    let tableFrame: number;
    let tableGpa = Math.floor(p.root / 4096);
    if (p.nested) {
      const c = this.tableFetch(p.nested, tableGpa, so);
      if (c) {
        out.level = p.levels - 1;
        out.stage = STAGE_TABLE_FETCH;
        return tableFetchFault(c, true);
      }
      tableFrame = so.frame;
    } else {
      tableFrame = tableGpa;
    }
    let w = true;
    let u = true;
    for (let l = p.levels - 1; l >= 0; l--) {
      out.level = l;
      const span = SPAN[l];
      // Spans are powers of two, so the quotient is exact; ToInt32 keeps its low bits.
      const idx = (inFrame / span) & 511;
      const pa = tableFrame * 4096 + idx * 8;
      if (!this.bus.backed(pa, 8)) return l === p.levels - 1 ? FR.PASID_ENTRY_FSPTPTR_INV : FR.FS_PAGING_ENTRY_INV;
      const words = this.bus.words(tableFrame);
      const wi = this.bus.wordBase(tableFrame) + 2 * idx;
      const lo = words[wi];
      const hi = words[wi + 1];
      let code = 0;
      if ((lo & FL_P) === 0) code = FR.FS_PAGING_ENTRY_P;
      else if (!privileged && (lo & FL_US) === 0) code = FR.FS_PAGING_ENTRY_US;
      // A supervisor write ignores R/W unless write protection is enabled (WPE).
      else if (write && (lo & FL_RW) === 0 && !(privileged && !p.wpe)) code = FR.SM_WRITE;
      else if (fmt.reserved(lo, hi, l)) code = FR.FS_PAGING_ENTRY_RSVD;
      const leaf = code === 0 && fmt.isLeaf(lo, l);
      if (code === 0 && updateAD) {
        const bits = ((lo & FL_A) === 0 ? FL_A : 0) | (leaf && write && (lo & FL_D) === 0 ? FL_D : 0);
        if (bits && !this.setFlags(p, pa, bits, tableGpa)) code = FR.NESTED_FS_PAGING_ENTRY_WRITE;
      }
      if (tracer !== null) tracer.read(firstStageRead(fmt, l, pa, idx, lo, hi, code, leaf));
      if (code !== 0) {
        if (code === FR.NESTED_FS_PAGING_ENTRY_WRITE) out.stage = STAGE_TABLE_FETCH;
        return code;
      }
      u = u && (lo & FL_US) !== 0;
      w = w && (lo & FL_RW) !== 0;
      let alo = lo & ADDR_LO_MASK;
      if (leaf && l > 0) alo &= ~FL_PAT_LARGE;
      const next = toFrame(alo >>> 0, hi & ADDR_HI_MASK);
      if (leaf) {
        const gFrame = l === 0 ? next : next + (inFrame % span);
        let shift = 12 + 9 * l;
        let r = true;
        if (p.nested) {
          const c = this.walkSecondLevel(p.nested.root, p.nested.levels, gFrame, write, so, p.nested.ssade === true);
          if (c) {
            out.level = so.level;
            out.stage = STAGE_SECOND;
            return c === FR.SM_ADDR_BEYOND_MGAW ? FR.NESTED_FS_ADDR_BEYOND_MGAW : c;
          }
          out.frame = so.frame;
          out.dirty = so.dirty;
          shift = Math.min(shift, so.shift);
          r = so.read;
          w = w && so.write;
        } else {
          out.frame = gFrame;
          out.dirty = true;
        }
        out.shift = shift;
        out.read = r;
        out.write = w || (privileged && !p.wpe);
        out.user = u;
        return 0;
      }
      if (p.nested) {
        const c = this.tableFetch(p.nested, next, so);
        if (c) {
          out.stage = STAGE_TABLE_FETCH;
          return tableFetchFault(c, false);
        }
        tableFrame = so.frame;
      } else {
        tableFrame = next;
      }
      tableGpa = next;
    }
    return FR.FS_PAGING_ENTRY_INV;
  }

  /**
   * Nested: the second-stage walk that locates the first-stage table at guest frame `gpaFrame`
   * (a read). Traced, its reads are bracketed as the sub-walk of the fetch that follows.
   */
  private tableFetch(nested: { root: number; levels: number; ssade?: boolean }, gpaFrame: number, so: WalkOut): number {
    const tracer = this.tracer;
    const ssade = nested.ssade === true;
    if (tracer === null) return this.walkSecondLevel(nested.root, nested.levels, gpaFrame, false, so, ssade);
    tracer.begin();
    const c = this.walkSecondLevel(nested.root, nested.levels, gpaFrame, false, so, ssade);
    tracer.end();
    return c;
  }

  /**
   * Writes A/D into a first-level entry; nested, the table's guest page must be writable in the
   * second level (it was just read through it, so write access is all that can be missing). That
   * second look is not traced: it reads the entries the fetch already showed. With SSADE it is a
   * write to that guest page, so it sets the second-stage D there. A dry run writes nothing.
   */
  private setFlags(p: FirstLevelParams, pa: number, bits: number, tableGpa: number): boolean {
    if (p.nested) {
      const saved = this.tracer;
      this.tracer = null;
      const c = this.walkSecondLevel(p.nested.root, p.nested.levels, tableGpa, true, this.adOut, p.nested.ssade === true);
      this.tracer = saved;
      if (c) return false;
    }
    if (!this.dryRun) this.bus.orLo(pa, bits);
    return true;
  }
}
