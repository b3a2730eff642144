import type { DmaRequest, TraceFieldValue, TraceRead } from '@ioasid/core';
import { contextEntryFields, pasidDirEntries } from '../tables/context-entry.js';
import { pasidDirEntryFields, pasidDirIndex } from '../tables/pasid-dir.js';
import { PGTT_FL_ONLY, PGTT_NESTED, PGTT_PT, PGTT_SL_ONLY, pasidEntryFields } from '../tables/pasid-entry.js';
import { rootEntryFields } from '../tables/root-table.js';
import type { ContextCacheEntry } from './context-cache.js';
import { FR } from './fault-reasons.js';

/**
 * Trace records of the scalable-mode structures above the page tables, named as the VT-d
 * specification's chapter 9 names them (§9.2 scalable-mode root entry, §9.4 scalable-mode context
 * entry, §9.5 scalable-mode PASID directory entry, §9.6 scalable-mode PASID table entry), with
 * every 64-bit word of the entry and its fields by their specification names. Made only while
 * tracing.
 */
export const ROOT_ENTRY = 'scalable-mode root entry';
export const CONTEXT_ENTRY = 'scalable-mode context entry';
export const PASID_DIR_ENTRY = 'scalable-mode PASID directory entry';
export const PASID_TABLE_ENTRY = 'scalable-mode PASID table entry';

/** PGTT encodings as the specification names the translation each selects (§9.6). */
const PGTT_TEXT: Record<number, string> = {
  [PGTT_FL_ONLY]: 'first-stage only',
  [PGTT_SL_ONLY]: 'second-stage only',
  [PGTT_NESTED]: 'nested',
  [PGTT_PT]: 'pass-through',
};

/** The specification (rev. 5.x §9.6) names these fields FS…/SS…; tables/pasid-entry.ts keeps the older names Linux and QEMU use. */
const PASID_ENTRY_NAMES: Record<string, string> = { SLADE: 'SSADE', SLPTPTR: 'SSPTPTR', FLPM: 'FSPM', FLPTPTR: 'FSPTPTR' };

const hexWords = (m: readonly bigint[]): string => m.map((v) => `0x${v.toString(16)}`).join(' ');

function read(structure: string, addr: number, index: number, raw: bigint[], fields: Record<string, TraceFieldValue>, decided: string): TraceRead {
  return { structure, addr: BigInt(addr), index, raw, fields, decided };
}

/** What decided the walk at the root entry: the present bit of the half for the devfn, or reserved bits. */
export function rootRead(addr: number, bus: number, raw: bigint[], upper: boolean, code: number, reserved: bigint[]): TraceRead {
  const half = upper ? 'UP' : 'LP';
  const decided = code === FR.SM_ROOT_ENTRY_P ? `${half} = 0` : code === FR.SM_ROOT_ENTRY_RSVD ? `reserved bits ${hexWords(reserved)} set` : `${half} = 1`;
  return read(ROOT_ENTRY, addr, bus, raw, rootEntryFields(raw), decided);
}

/**
 * What decided the walk at the context entry for `req`: P, reserved bits, then (a translated
 * request) DTE and EPTR, or (a request with PASID) PASIDE and the directory size, or (without
 * PASID) RID_PASID within the directory size.
 */
function contextDecided(ctx: ContextCacheEntry, req: DmaRequest): string {
  if (req.translated === true) {
    if (!ctx.dte) return 'DTE = 0 (a translated request)';
    if (req.pasid >= 0) return 'EPTR = 0 (a translated request with PASID)';
    return 'DTE = 1: a translated request bypasses translation';
  }
  const dirs = pasidDirEntries(ctx.pdts);
  if (req.pasid >= 0) {
    if (!ctx.paside) return 'PASIDE = 0 (a request with PASID)';
    if (pasidDirIndex(req.pasid) >= dirs) return `PDTS = ${ctx.pdts}: ${dirs} directory entries, none for PASID ${req.pasid}`;
    return 'P = 1, PASIDE = 1';
  }
  if (pasidDirIndex(ctx.ridPasid) >= dirs) return `RID_PASID = ${ctx.ridPasid}: beyond the ${dirs} directory entries of PDTS = ${ctx.pdts}`;
  return `P = 1, RID_PASID = ${ctx.ridPasid}`;
}

export function contextRead(addr: number, devfn: number, raw: bigint[], code: number, reserved: bigint[], ctx: ContextCacheEntry | null, req: DmaRequest): TraceRead {
  const decided = ctx !== null ? contextDecided(ctx, req) : code === FR.SM_CONTEXT_ENTRY_P ? 'P = 0' : `reserved bits ${hexWords(reserved)} set`;
  return read(CONTEXT_ENTRY, addr, devfn & 0x7f, raw, contextEntryFields(raw), decided);
}

export function pasidDirRead(addr: number, index: number, raw: bigint, code: number, reserved: bigint): TraceRead {
  const f = pasidDirEntryFields(raw);
  const fields = { P: f.P, FPD: f.FPD, SMPTBLPTR: f.PTP };
  const decided = code === FR.PASID_DIR_ENTRY_P ? 'P = 0' : code === FR.PASID_DIR_ENTRY_RSVD ? `reserved bits ${hexWords([reserved])} set` : 'P = 1';
  return read(PASID_DIR_ENTRY, addr, index, [raw], fields, decided);
}

/** The PGTT value in the specification's binary notation with the translation it selects. */
export function pgttText(pgtt: number): string {
  return `PGTT = ${pgtt.toString(2).padStart(3, '0')}b (${PGTT_TEXT[pgtt] ?? 'reserved or not supported'})`;
}

/** `why` is the field that decided a fault (P = 0, PGTT, AW, FSPM, SRE); absent, the entry's PGTT decided the walk. */
export function pasidEntryRead(addr: number, index: number, raw: bigint[], pgtt: number, why?: string): TraceRead {
  const fields: Record<string, TraceFieldValue> = {};
  for (const [k, v] of Object.entries(pasidEntryFields(raw))) if (k !== 'PGTT_NAME') fields[PASID_ENTRY_NAMES[k] ?? k] = v;
  return read(PASID_TABLE_ENTRY, addr, index, raw, fields, why ?? pgttText(pgtt));
}
