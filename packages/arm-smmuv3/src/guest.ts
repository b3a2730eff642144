import { fail, type GuestKernelHelpers, type GuestMemory, type GuestPasidEntry, type PgtableFormat, type PtFormat } from '@ioasid/core';
import type { Granule } from './formats/lpae-geometry.js';
import { lpaeStage1Format, type LpaeFormat } from './formats/lpae.js';
import { CdTable, directSpace, type CdLayout } from './tables/cd-table.js';
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
  if (format?.kind !== 'arm-lpae-s1') fail('EINVAL', `not an SMMUv3 stage 1 format: ${String(format?.kind)}`);
  const granule = format.granule as Granule;
  if (granule !== 4096 && granule !== 16384 && granule !== 65536) fail('EINVAL', `granule ${String(format.granule)} is not 4K, 16K or 64K`);
  const ias = (format.ias as number | undefined) ?? 48;
  return { granule, ias };
}

function entryCd(e: GuestPasidEntry): Uint32Array {
  const { granule, ias } = s1FormatOf(e.pgtable);
  return guestS1Cd({ ttb0: e.root, granule, ias, asid: e.asid ?? e.pasid + 1 });
}

/** What a guest kernel writes for SMMUv3 (core's GuestKernelHelpers): LPAE stage 1 tables and CD tables. */
export const smmuGuestHelpers: GuestKernelHelpers = {
  pageTableFormat(format: PgtableFormat): PtFormat {
    const { granule, ias } = s1FormatOf(format);
    return lpaeStage1Format(granule, ias);
  },
  buildPasidTable(guest: GuestMemory, format: PgtableFormat, entries: GuestPasidEntry[]): bigint {
    if (format?.kind !== 'arm-smmuv3-cd') fail('EINVAL', `not an SMMUv3 CD table format: ${String(format?.kind)}`);
    const layout = format.layout as CdLayout;
    const t = guestCdTable(guest, layout, format.s1cdmax as number);
    for (const e of entries) t.write(e.pasid, entryCd(e));
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
