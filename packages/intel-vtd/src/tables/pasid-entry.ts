import { addrField, bitField, getAddrBig, getFieldBig, setAddrBig, setFieldBig } from '@ioasid/core';
import { decodeFields } from '../bits.js';
import { PASIDS_PER_TABLE } from './pasid-dir.js';

/**
 * Scalable-mode PASID table entry (512 bits, 64 per 4 KiB PASID table).
 * Positions: Linux drivers/iommu/intel/pasid.h (pasid_set_present, pasid_set_fault_enable (FPD),
 * pasid_set_address_width, pasid_set_translation_type, pasid_set_ssade, pasid_set_slptr,
 * pasid_set_domain_id, pasid_set_page_snoop (PWSNP), pasid_set_pgsnp, pasid_set_sre, pasid_set_flpm,
 * pasid_set_wpe, pasid_set_eafe, pasid_set_flptr; earlier intel-pasid.c pasid_set_cd/emte/emt/pwt/
 * pcd/pat and pasid_set_nxe) and QEMU hw/i386/intel_iommu_internal.h (VTD_PASID_ENTRY_P/FPD,
 * VTD_SM_PASID_ENTRY_AW/PGTT/SLPTPTR/DID/FLPM/FLPTPTR, VTD_SM_PASID_ENTRY_SRE_BIT/WPE_BIT/EAFE_BIT).
 */
export const PASID_ENTRY_BYTES = 64;
export const PASID_ENTRY_QWORDS = 8;

export const PE_P = bitField('P', 0);
export const PE_FPD = bitField('FPD', 1);
export const PE_AW = bitField('AW', 4, 2);
export const PE_SLEE = bitField('SLEE', 5);
export const PE_PGTT = bitField('PGTT', 8, 6);
export const PE_SLADE = bitField('SLADE', 9);
export const PE_SLPTPTR = addrField(bitField('SLPTPTR', 63, 12));
export const PE_DID = bitField('DID', 79, 64);
export const PE_PWSNP = bitField('PWSNP', 87);
export const PE_PGSNP = bitField('PGSNP', 88);
export const PE_CD = bitField('CD', 89);
export const PE_EMTE = bitField('EMTE', 90);
export const PE_EMT = bitField('EMT', 93, 91);
export const PE_PWT = bitField('PWT', 94);
export const PE_PCD = bitField('PCD', 95);
export const PE_PAT = bitField('PAT', 127, 96);
export const PE_SRE = bitField('SRE', 128);
export const PE_ERE = bitField('ERE', 129);
export const PE_FLPM = bitField('FLPM', 131, 130);
export const PE_WPE = bitField('WPE', 132);
export const PE_NXE = bitField('NXE', 133);
export const PE_EAFE = bitField('EAFE', 135);
export const PE_FLPTPTR = addrField(bitField('FLPTPTR', 191, 140));

export const PE_FIELDS = [
  PE_P, PE_FPD, PE_AW, PE_SLEE, PE_PGTT, PE_SLADE, PE_SLPTPTR, PE_DID, PE_PWSNP, PE_PGSNP, PE_CD, PE_EMTE,
  PE_EMT, PE_PWT, PE_PCD, PE_PAT, PE_SRE, PE_ERE, PE_FLPM, PE_WPE, PE_NXE, PE_EAFE, PE_FLPTPTR,
] as const;

/** PASID Granular Translation Type (Linux PASID_ENTRY_PGTT_*, QEMU VTD_SM_PASID_ENTRY_FLT/SLT/NESTED/PT). */
export const PGTT_FL_ONLY = 1;
export const PGTT_SL_ONLY = 2;
export const PGTT_NESTED = 3;
export const PGTT_PT = 4;
export const PGTT_NAMES: Record<number, string> = { 1: 'first-level', 2: 'second-level', 3: 'nested', 4: 'pass-through' };

export interface PasidEntry {
  p: boolean;
  fpd: boolean;
  /** AW field: second-level levels − 2. */
  aw: number;
  pgtt: number;
  slptptr: bigint;
  did: number;
  pwsnp: boolean;
  pgsnp: boolean;
  sre: boolean;
  wpe: boolean;
  eafe: boolean;
  /** FLPM: 0 = 4-level, 1 = 5-level first-level paging. */
  flpm: number;
  flptptr: bigint;
  slade?: boolean;
}

export function encodePasidEntry(e: PasidEntry): bigint[] {
  const q = new Array<bigint>(PASID_ENTRY_QWORDS).fill(0n);
  setFieldBig(q, PE_P, e.p);
  setFieldBig(q, PE_FPD, e.fpd);
  setFieldBig(q, PE_AW, e.aw);
  setFieldBig(q, PE_PGTT, e.pgtt);
  setFieldBig(q, PE_SLADE, e.slade ?? false);
  setAddrBig(q, PE_SLPTPTR, e.slptptr);
  setFieldBig(q, PE_DID, e.did);
  setFieldBig(q, PE_PWSNP, e.pwsnp);
  setFieldBig(q, PE_PGSNP, e.pgsnp);
  setFieldBig(q, PE_SRE, e.sre);
  setFieldBig(q, PE_WPE, e.wpe);
  setFieldBig(q, PE_EAFE, e.eafe);
  setFieldBig(q, PE_FLPM, e.flpm);
  setAddrBig(q, PE_FLPTPTR, e.flptptr);
  return q;
}

export function decodePasidEntry(q: readonly bigint[]): PasidEntry {
  return {
    p: getFieldBig(q, PE_P) === 1n,
    fpd: getFieldBig(q, PE_FPD) === 1n,
    aw: Number(getFieldBig(q, PE_AW)),
    pgtt: Number(getFieldBig(q, PE_PGTT)),
    slptptr: getAddrBig(q, PE_SLPTPTR),
    did: Number(getFieldBig(q, PE_DID)),
    pwsnp: getFieldBig(q, PE_PWSNP) === 1n,
    pgsnp: getFieldBig(q, PE_PGSNP) === 1n,
    sre: getFieldBig(q, PE_SRE) === 1n,
    wpe: getFieldBig(q, PE_WPE) === 1n,
    eafe: getFieldBig(q, PE_EAFE) === 1n,
    flpm: Number(getFieldBig(q, PE_FLPM)),
    flptptr: getAddrBig(q, PE_FLPTPTR),
    slade: getFieldBig(q, PE_SLADE) === 1n,
  };
}

export function pasidEntryFields(q: readonly bigint[]): Record<string, bigint | number | boolean | string> {
  const f: Record<string, bigint | number | boolean | string> = decodeFields(q, PE_FIELDS);
  f.PGTT_NAME = PGTT_NAMES[f.PGTT as number] ?? 'reserved';
  return f;
}

export function pasidEntryAddr(table: bigint, pasid: number): bigint {
  return table + BigInt((pasid % PASIDS_PER_TABLE) * PASID_ENTRY_BYTES);
}
