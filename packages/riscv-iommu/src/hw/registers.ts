import { bitField, getFieldBig, setFieldBig, type BitField } from '@ioasid/core';

/**
 * The memory-mapped registers the model implements (RISC-V IOMMU spec v1.0, chapter 5), by the
 * spec's names, with their offsets and widths (in bytes).
 */
export const REGISTERS = {
  capabilities: { offset: 0x00, size: 8 },
  fctl: { offset: 0x08, size: 4 },
  ddtp: { offset: 0x10, size: 8 },
  cqb: { offset: 0x18, size: 8 },
  cqh: { offset: 0x20, size: 4 },
  cqt: { offset: 0x24, size: 4 },
  fqb: { offset: 0x28, size: 8 },
  fqh: { offset: 0x30, size: 4 },
  fqt: { offset: 0x34, size: 4 },
  pqb: { offset: 0x38, size: 8 },
  pqh: { offset: 0x40, size: 4 },
  pqt: { offset: 0x44, size: 4 },
  cqcsr: { offset: 0x48, size: 4 },
  fqcsr: { offset: 0x4c, size: 4 },
  pqcsr: { offset: 0x50, size: 4 },
  ipsr: { offset: 0x54, size: 4 },
} as const;
export type RegName = keyof typeof REGISTERS;
export const REG_NAMES = Object.keys(REGISTERS) as RegName[];

/** §5.3 capabilities. */
export const CAP = {
  version: bitField('version', 7, 0),
  Sv32: bitField('Sv32', 8),
  Sv39: bitField('Sv39', 9),
  Sv48: bitField('Sv48', 10),
  Sv57: bitField('Sv57', 11),
  Svpbmt: bitField('Svpbmt', 15),
  Sv32x4: bitField('Sv32x4', 16),
  Sv39x4: bitField('Sv39x4', 17),
  Sv48x4: bitField('Sv48x4', 18),
  Sv57x4: bitField('Sv57x4', 19),
  AMO_MRIF: bitField('AMO_MRIF', 21),
  MSI_FLAT: bitField('MSI_FLAT', 22),
  MSI_MRIF: bitField('MSI_MRIF', 23),
  AMO_HWAD: bitField('AMO_HWAD', 24),
  ATS: bitField('ATS', 25),
  T2GPA: bitField('T2GPA', 26),
  END: bitField('END', 27),
  IGS: bitField('IGS', 29, 28),
  HPM: bitField('HPM', 30),
  DBG: bitField('DBG', 31),
  PAS: bitField('PAS', 37, 32),
  PD8: bitField('PD8', 38),
  PD17: bitField('PD17', 39),
  PD20: bitField('PD20', 40),
} as const satisfies Record<string, BitField>;

/** version 1.0 reads as 0x10 (major in bits 7:4, minor in 3:0). */
export const SPEC_VERSION_1_0 = 0x10;

/** §5.4 fctl. */
export const FCTL = {
  BE: bitField('BE', 0),
  WSI: bitField('WSI', 1),
  GXL: bitField('GXL', 2),
} as const;

/** §5.5 ddtp. */
export const DDTP = {
  iommu_mode: bitField('iommu_mode', 3, 0),
  busy: bitField('busy', 4),
  PPN: bitField('PPN', 53, 10),
} as const;

export const DDTP_MODE = { Off: 0, Bare: 1, '1LVL': 2, '2LVL': 3, '3LVL': 4 } as const;
export type DdtpMode = keyof typeof DDTP_MODE;

/** §5.6/§5.9/§5.12 cqb, fqb, pqb: LOG2SZ-1 and the queue's page number. */
export const QB = {
  LOG2SZ_1: bitField('LOG2SZ-1', 4, 0),
  PPN: bitField('PPN', 53, 10),
} as const;

/** §5.15 cqcsr. */
export const CQCSR = {
  cqen: bitField('cqen', 0),
  cie: bitField('cie', 1),
  cqmf: bitField('cqmf', 8),
  cmd_to: bitField('cmd_to', 9),
  cmd_ill: bitField('cmd_ill', 10),
  fence_w_ip: bitField('fence_w_ip', 11),
  cqon: bitField('cqon', 16),
  busy: bitField('busy', 17),
} as const;

/** §5.16 fqcsr. */
export const FQCSR = {
  fqen: bitField('fqen', 0),
  fie: bitField('fie', 1),
  fqmf: bitField('fqmf', 8),
  fqof: bitField('fqof', 9),
  fqon: bitField('fqon', 16),
  busy: bitField('busy', 17),
} as const;

/** §5.17 pqcsr. */
export const PQCSR = {
  pqen: bitField('pqen', 0),
  pie: bitField('pie', 1),
  pqmf: bitField('pqmf', 8),
  pqof: bitField('pqof', 9),
  pqon: bitField('pqon', 16),
  busy: bitField('busy', 17),
} as const;

/** §5.18 ipsr (RW1C). */
export const IPSR = {
  cip: bitField('cip', 0),
  fip: bitField('fip', 1),
  pmip: bitField('pmip', 2),
  pip: bitField('pip', 3),
} as const;

export type CapName = keyof typeof CAP;

/** The decoded capabilities the model acts on. */
export interface Capabilities {
  sv: { 39: boolean; 48: boolean; 57: boolean };
  svx4: { 39: boolean; 48: boolean; 57: boolean };
  msiFlat: boolean;
  amoHwad: boolean;
  ats: boolean;
  t2gpa: boolean;
  end: boolean;
  igs: number;
  pas: number;
  pd8: boolean;
  pd17: boolean;
  pd20: boolean;
}

export function decodeCapabilities(v: bigint): Capabilities {
  const b = (f: BitField) => getFieldBig(v, f) !== 0n;
  return {
    sv: { 39: b(CAP.Sv39), 48: b(CAP.Sv48), 57: b(CAP.Sv57) },
    svx4: { 39: b(CAP.Sv39x4), 48: b(CAP.Sv48x4), 57: b(CAP.Sv57x4) },
    msiFlat: b(CAP.MSI_FLAT),
    amoHwad: b(CAP.AMO_HWAD),
    ats: b(CAP.ATS),
    t2gpa: b(CAP.T2GPA),
    end: b(CAP.END),
    igs: Number(getFieldBig(v, CAP.IGS)),
    pas: Number(getFieldBig(v, CAP.PAS)),
    pd8: b(CAP.PD8),
    pd17: b(CAP.PD17),
    pd20: b(CAP.PD20),
  };
}

export function encodeCapabilities(c: Capabilities): bigint {
  let v = setFieldBig(0n, CAP.version, SPEC_VERSION_1_0);
  const set = (f: BitField, on: boolean | number) => (v = setFieldBig(v, f, typeof on === 'number' ? on : on ? 1 : 0));
  set(CAP.Sv39, c.sv[39]);
  set(CAP.Sv48, c.sv[48]);
  set(CAP.Sv57, c.sv[57]);
  set(CAP.Sv39x4, c.svx4[39]);
  set(CAP.Sv48x4, c.svx4[48]);
  set(CAP.Sv57x4, c.svx4[57]);
  set(CAP.MSI_FLAT, c.msiFlat);
  set(CAP.AMO_HWAD, c.amoHwad);
  set(CAP.ATS, c.ats);
  set(CAP.T2GPA, c.t2gpa);
  set(CAP.END, c.end);
  set(CAP.IGS, c.igs);
  set(CAP.PAS, c.pas);
  set(CAP.PD8, c.pd8);
  set(CAP.PD17, c.pd17);
  set(CAP.PD20, c.pd20);
  return v;
}

/** ddtp value for a mode and a root page. */
export function encodeDdtp(mode: DdtpMode, rootFrame: number): bigint {
  return setFieldBig(setFieldBig(0n, DDTP.iommu_mode, DDTP_MODE[mode]), DDTP.PPN, BigInt(rootFrame));
}

/** cqb/fqb/pqb value: `entries` a power of two (LOG2SZ-1 = log2(entries) - 1). */
export function encodeQueueBase(frame: number, entries: number): bigint {
  return setFieldBig(setFieldBig(0n, QB.LOG2SZ_1, Math.log2(entries) - 1), QB.PPN, BigInt(frame));
}

export function decodeQueueBase(v: bigint): { frame: number; entries: number } {
  return { frame: Number(getFieldBig(v, QB.PPN)), entries: 2 ** (Number(getFieldBig(v, QB.LOG2SZ_1)) + 1) };
}
