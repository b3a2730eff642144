import { getFieldBig, type DmaRequest, type WalkTracer } from '@ioasid/core';
import { flpmForLevels } from '../formats/first-level.js';
import { CTX_DTE, CTX_FPD, CTX_P, CTX_PASIDDIRPTR, CTX_PASIDE, CTX_PDTS, CTX_PRE, CTX_RID_PASID, CTX_RID_PRIV, contextReserved, pasidDirEntries, SM_CONTEXT_ENTRY_BYTES } from '../tables/context-entry.js';
import { PDE_FPD, PDE_P, PDE_PTP, PASID_DIR_ENTRY_BYTES, pasidDirIndex, pasidDirReserved } from '../tables/pasid-dir.js';
import {
  PASID_ENTRY_BYTES, PE_AW, PE_DID, PE_FLPM, PE_FLPTPTR, PE_FPD, PE_P, PE_PGTT, PE_SLADE, PE_SLPTPTR, PE_SRE, PE_WPE,
  PGTT_FL_ONLY, PGTT_NESTED, PGTT_PT, PGTT_SL_ONLY,
} from '../tables/pasid-entry.js';
import { DEVFN_UPPER, ROOT_ENTRY_BYTES, ROOT_LCTP, ROOT_LP, ROOT_UCTP, ROOT_UP, rootReserved } from '../tables/root-table.js';
import type { ContextCacheEntry } from './context-cache.js';
import { FR } from './fault-reasons.js';
import type { PasidCacheEntry } from './pasid-cache.js';
import type { PhysBus } from './phys-bus.js';
import { contextRead, pasidDirRead, pasidEntryRead, pgttText, rootRead } from './trace-structures.js';
import { CAP_FL5LP, CAP_SAGAW, ECAP_FLTS, ECAP_NEST, ECAP_PT, ECAP_SLADS, ECAP_SLTS, reg, TTM_LEGACY, TTM_SCALABLE } from './registers.js';

/**
 * The unit's reads of the scalable-mode structures above the page tables: root entry, context
 * entry, PASID directory entry and PASID table entry, each checked as the hardware checks it and
 * decoded into what the context and PASID caches hold, or the fault reason met on the way.
 */
export class StructureReader {
  /** CAP.SAGAW: bit n set = an (n + 2)-level second-level table is supported. */
  private readonly sagaw: number;
  /** PGTT values the unit implements (ECAP.FLTS, SLTS, NEST, PT). */
  private readonly pgtts = new Set<number>();
  /** CAP.FL5LP: 5-level first-level tables. */
  private readonly fl5: boolean;
  /** ECAP.SSADS (Linux ecap_slads): the unit implements the PASID entry's SSADE. */
  private readonly ssads: boolean;

  constructor(
    private readonly bus: PhysBus,
    private readonly haw: number,
    cap: bigint,
    ecap: bigint,
  ) {
    this.sagaw = reg(cap, CAP_SAGAW);
    this.fl5 = reg(cap, CAP_FL5LP) === 1;
    this.ssads = reg(ecap, ECAP_SLADS) === 1;
    if (reg(ecap, ECAP_FLTS)) this.pgtts.add(PGTT_FL_ONLY);
    if (reg(ecap, ECAP_SLTS)) this.pgtts.add(PGTT_SL_ONLY);
    if (reg(ecap, ECAP_NEST)) this.pgtts.add(PGTT_NESTED);
    if (reg(ecap, ECAP_PT)) this.pgtts.add(PGTT_PT);
  }

  /**
   * Root and context entry for `rid` (QEMU vtd_dev_to_context_entry, scalable mode). Only
   * TTM = 01b is walked: legacy mode (00b) is not modelled, so every request is blocked as the
   * spec blocks a request with PASID there (VT-d §7.1.3, 31h), and 10b / 11b are not implemented.
   * With a tracer, each entry read is recorded with what decided the walk there for `req`.
   */
  context(rootTable: number, ttm: number, rid: number, tracer: WalkTracer | null = null, req?: DmaRequest): ContextCacheEntry | number {
    if (ttm !== TTM_SCALABLE) return ttm === TTM_LEGACY ? FR.RTADDR_INV_TTM : FR.RTADDR_INV;
    const bus = rid >>> 8;
    const devfn = rid & 0xff;
    const rpa = rootTable + bus * ROOT_ENTRY_BYTES;
    if (!this.bus.backed(rpa, ROOT_ENTRY_BYTES)) return FR.SM_ROOT_TABLE_INV;
    const root = this.bus.qwords(rpa, 2);
    const upper = (devfn & DEVFN_UPPER) !== 0;
    const rr = rootReserved(this.haw);
    const rootCode = getFieldBig(root, upper ? ROOT_UP : ROOT_LP) !== 1n ? FR.SM_ROOT_ENTRY_P : (root[0] & rr) !== 0n || (root[1] & rr) !== 0n ? FR.SM_ROOT_ENTRY_RSVD : 0;
    if (tracer !== null) tracer.read(rootRead(rpa, bus, root, upper, rootCode, [root[0] & rr, root[1] & rr]));
    if (rootCode !== 0) return rootCode;
    const ctp = Number(upper ? getFieldBig(root, ROOT_UCTP) << 12n : getFieldBig(root, ROOT_LCTP) << 12n);
    const cpa = ctp + (devfn & 0x7f) * SM_CONTEXT_ENTRY_BYTES;
    if (!this.bus.backed(cpa, SM_CONTEXT_ENTRY_BYTES)) return FR.SM_CONTEXT_TABLE_INV;
    const raw = this.bus.qwords(cpa, 4);
    const cr = contextReserved(this.haw);
    const code = getFieldBig(raw, CTX_P) !== 1n ? FR.SM_CONTEXT_ENTRY_P : raw.some((q, k) => (q & cr[k]) !== 0n) ? FR.SM_CONTEXT_ENTRY_RSVD : 0;
    const ctx: ContextCacheEntry | null = code !== 0 ? null : {
      raw,
      fpd: getFieldBig(raw, CTX_FPD) === 1n,
      dte: getFieldBig(raw, CTX_DTE) === 1n,
      paside: getFieldBig(raw, CTX_PASIDE) === 1n,
      pre: getFieldBig(raw, CTX_PRE) === 1n,
      pdts: Number(getFieldBig(raw, CTX_PDTS)),
      pasidDir: Number(getFieldBig(raw, CTX_PASIDDIRPTR) << 12n),
      ridPasid: Number(getFieldBig(raw, CTX_RID_PASID)),
      ridPriv: getFieldBig(raw, CTX_RID_PRIV) === 1n,
    };
    if (tracer !== null) tracer.read(contextRead(cpa, devfn, raw, code, raw.map((q, k) => q & cr[k]), ctx, req ?? NO_REQUEST));
    return ctx ?? code;
  }

  /**
   * PASID directory and table entry (QEMU vtd_get_pe_from_pasid_table, vtd_get_pe_in_pasid_leaf_table).
   * A PASID beyond the directory PDTS sizes is the context entry's fault (VT-d §7.1.3, 46h for
   * the request's PASID, 48h for RID_PASID). With a tracer, each entry read is recorded; the
   * PASID entry's record names SRE when a `privileged` first-stage request will fail on it.
   */
  pasidEntry(ctx: ContextCacheEntry, pasid: number, hasPasid: boolean, tracer: WalkTracer | null = null, privileged = false): PasidCacheEntry | { code: number; fpd: boolean } {
    const di = pasidDirIndex(pasid);
    if (di >= pasidDirEntries(ctx.pdts)) return { code: hasPasid ? FR.SM_PASID_BEYOND_PDTS : FR.SM_RID_PASID_INV, fpd: false };
    const dpa = ctx.pasidDir + di * PASID_DIR_ENTRY_BYTES;
    if (!this.bus.backed(dpa, PASID_DIR_ENTRY_BYTES)) return { code: FR.PASID_DIR_ACCESS_ERR, fpd: false };
    const pde = [this.bus.qword(dpa)];
    const dirFpd = getFieldBig(pde, PDE_FPD) === 1n;
    const dirRsvd = pde[0] & pasidDirReserved(this.haw);
    const dirCode = getFieldBig(pde, PDE_P) !== 1n ? FR.PASID_DIR_ENTRY_P : dirRsvd !== 0n ? FR.PASID_DIR_ENTRY_RSVD : 0;
    if (tracer !== null) tracer.read(pasidDirRead(dpa, di, pde[0], dirCode, dirRsvd));
    if (dirCode === FR.PASID_DIR_ENTRY_P) return { code: dirCode, fpd: dirFpd };
    // The FPD of an entry with reserved bits set is not trusted: only the context's applies.
    if (dirCode !== 0) return { code: dirCode, fpd: false };
    const table = Number(getFieldBig(pde, PDE_PTP) << 12n);
    const ppa = table + (pasid & 63) * PASID_ENTRY_BYTES;
    if (!this.bus.backed(ppa, PASID_ENTRY_BYTES)) return { code: FR.PASID_TABLE_ACCESS_ERR, fpd: dirFpd };
    const raw = this.bus.qwords(ppa, 8);
    const fpd = dirFpd || getFieldBig(raw, PE_FPD) === 1n;
    const pgtt = Number(getFieldBig(raw, PE_PGTT));
    const why = this.pasidEntryFault(raw, pgtt);
    if (why !== null) {
      if (tracer !== null) tracer.read(pasidEntryRead(ppa, pasid & 63, raw, pgtt, why.text));
      return { code: why.code, fpd };
    }
    const slRoot = Number(getFieldBig(raw, PE_SLPTPTR));
    const flRoot = Number(getFieldBig(raw, PE_FLPTPTR) << 12n);
    const slLevels = Number(getFieldBig(raw, PE_AW)) + 2;
    const flpm = Number(getFieldBig(raw, PE_FLPM));
    const sre = getFieldBig(raw, PE_SRE) === 1n;
    const wpe = getFieldBig(raw, PE_WPE) === 1n;
    // SSADE means something only where the second stage is walked, on a unit with SSADS.
    const ssade = this.ssads && (pgtt === PGTT_SL_ONLY || pgtt === PGTT_NESTED) && getFieldBig(raw, PE_SLADE) === 1n;
    const firstLevel = pgtt === PGTT_FL_ONLY || pgtt === PGTT_NESTED;
    if (tracer !== null) tracer.read(pasidEntryRead(ppa, pasid & 63, raw, pgtt, privileged && firstLevel && !sre ? 'SRE = 0 (a supervisor request)' : undefined));
    return {
      raw,
      did: Number(getFieldBig(raw, PE_DID)),
      pasid,
      pgtt,
      fpd,
      slRoot,
      slLevels,
      flRoot,
      flLevels: flpm + 4,
      sre,
      wpe,
      ssade,
      fl: firstLevel
        ? { root: flRoot, levels: (flpm + 4) as 4 | 5, sre, wpe, nested: pgtt === PGTT_NESTED ? { root: slRoot, levels: slLevels, ssade } : undefined }
        : null,
    };
  }

  /** The fault a present-or-not PASID entry decides by itself (59h, 5Bh) and the field that decided it, or null. */
  private pasidEntryFault(raw: bigint[], pgtt: number): { code: number; text: string } | null {
    if (getFieldBig(raw, PE_P) !== 1n) return { code: FR.PASID_ENTRY_P, text: 'P = 0' };
    const inv = FR.PASID_TABLE_ENTRY_INV;
    if (!this.pgtts.has(pgtt)) return { code: inv, text: pgttText(pgtt) };
    const aw = Number(getFieldBig(raw, PE_AW));
    if ((pgtt === PGTT_SL_ONLY || pgtt === PGTT_NESTED) && !((this.sagaw >> aw) & 1)) return { code: inv, text: `AW = ${aw}: CAP_REG.SAGAW has no ${aw + 2}-level table` };
    const flpm = Number(getFieldBig(raw, PE_FLPM));
    if ((pgtt === PGTT_FL_ONLY || pgtt === PGTT_NESTED) && !(flpm === flpmForLevels(4) || (flpm === flpmForLevels(5) && this.fl5))) {
      return { code: inv, text: `FSPM = ${flpm}: not a first-stage paging mode this unit supports` };
    }
    return null;
  }
}

/** The request a trace names when context() is asked without one. */
const NO_REQUEST: DmaRequest = { rid: 0, pasid: -1, iovaFrame: 0, write: false, privileged: false };
