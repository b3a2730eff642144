import { fail, type GuestKernelHelpers, type GuestMemory, type GuestPasidEntry, type PgtableFormat, type PtFormat } from '@ioasid/core';
import type { Granule } from './formats/lpae-geometry.js';
import { lpaeStage1Format, type LpaeFormat } from './formats/lpae.js';
import { CdTable, directSpace, type CdLayout } from './tables/cd-table.js';
import { ANY_UNIT, checkCdFormat, checkS1Format } from './bind-formats.js';
import { s1Cd } from './cd-builder.js';

/**
 * The guest kernel's side (what a Linux guest's SMMUv3 driver writes in its own RAM): CD tables
 * and stage 1 CDs in guest-physical memory, built with the same codecs the hardware decodes.
 */
export function guestCdTable(guest: GuestMemory, layout: CdLayout, s1cdmax: number): CdTable {
  return CdTable.create(directSpace(guest), layout, s1cdmax);
}

export interface GuestCdParams {
  /** GPA of the stage 1 table. */
  ttb0: bigint;
  granule: Granule;
  ias: number;
  asid: number;
  /** IPA size the guest programs in CD.IPS (default 48). */
  ipsBits?: number;
  /** CD.S: stall faults (needs STE.S1STALLD = 0). */
  stall?: boolean;
}

/** A stage 1 CD as a guest's arm_smmu_make_s1_cd writes it. */
export function guestS1Cd(p: GuestCdParams): Uint32Array {
  return s1Cd({ ttb0: Number(p.ttb0), granule: p.granule, ias: p.ias, asid: p.asid, ipsBits: p.ipsBits ?? 48, stall: p.stall });
}

/** The stage 1 format a guest builds its tables in (for GuestMemory.createPageTable). */
export function guestS1Format(granule: Granule, ias = 48): LpaeFormat {
  return lpaeStage1Format(granule, ias);
}

const guestTables = new WeakMap<GuestMemory, Map<bigint, CdTable>>();

function s1FormatOf(format: PgtableFormat): { granule: Granule; ias: number } {
  return checkS1Format(format, ANY_UNIT.granules, ANY_UNIT.ias);
}

function entryCd(e: GuestPasidEntry): Uint32Array {
  const { granule, ias } = s1FormatOf(e.pgtable);
  const asid = e.asid ?? e.pasid + 1;
  if (!Number.isInteger(asid) || asid < 0 || asid > 0xffff) fail('EINVAL', `asid ${String(asid)} of PASID ${e.pasid} must be a 16-bit ASID (CD.ASID[15:0])`);
  if (typeof e.root !== 'bigint' || e.root < 0n || e.root >= 1n << 52n) fail('EINVAL', `root of PASID ${e.pasid} must be a guest-physical address below 2^52 (CD.TTB0[51:4])`);
  return guestS1Cd({ ttb0: e.root, granule, ias, asid });
}

/** What a guest kernel writes for SMMUv3 (core's GuestKernelHelpers): LPAE stage 1 tables and CD tables. */
export const smmuGuestHelpers: GuestKernelHelpers = {
  pageTableFormat(format: PgtableFormat): PtFormat {
    const { granule, ias } = s1FormatOf(format);
    return lpaeStage1Format(granule, ias);
  },
  buildPasidTable(guest: GuestMemory, format: PgtableFormat, entries: GuestPasidEntry[]): bigint {
    const { layout, s1cdmax } = checkCdFormat(format, ANY_UNIT.cd);
    if (!Array.isArray(entries)) fail('EINVAL', 'entries must be an array of { pasid, root, pgtable, asid? }');
    // Every entry is checked before the table is built, so a refused one leaves no table behind.
    const cds = entries.map((e) => {
      if (!Number.isInteger(e.pasid) || e.pasid < 0 || e.pasid >= 2 ** s1cdmax) fail('EINVAL', `pasid ${String(e.pasid)} is beyond the table's S1CDMax ${s1cdmax}`);
      return [e.pasid, entryCd(e)] as const;
    });
    const t = guestCdTable(guest, layout, s1cdmax);
    for (const [pasid, cd] of cds) t.write(pasid, cd);
    let m = guestTables.get(guest);
    if (!m) {
      m = new Map();
      guestTables.set(guest, m);
    }
    m.set(BigInt(t.addr), t);
    return BigInt(t.addr);
  },
  updatePasidEntry(guest: GuestMemory, table: bigint, _format: PgtableFormat, entry: GuestPasidEntry | { pasid: number; root?: undefined }): void {
    const t = guestTables.get(guest)?.get(table);
    if (!t) fail('ENOENT', `no guest CD table at GPA 0x${table.toString(16)} was built by this helper`);
    if (entry.root === undefined) t.clear(entry.pasid);
    else t.write(entry.pasid, entryCd(entry as GuestPasidEntry));
  },
};
