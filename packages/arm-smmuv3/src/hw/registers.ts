import { dwField, fail, getFieldBig, setFieldBig, type BitField } from '@ioasid/core';

/**
 * SMMUv3 registers (SMMUv3 §6.3): offsets and fields as Linux
 * drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h (ARM_SMMU_*, IDR0_*, IDR1_*, IDR3_*, IDR5_*, CR0_*,
 * STRTAB_BASE_*, Q_BASE_*) and QEMU hw/arm/smmuv3-internal.h (REG32/FIELD). All fields are
 * within one register (doubleword 0 of a core BitField).
 */
export const REG_OFFSET = {
  IDR0: 0x00,
  IDR1: 0x04,
  IDR2: 0x08,
  IDR3: 0x0c,
  IDR4: 0x10,
  IDR5: 0x14,
  IIDR: 0x18,
  AIDR: 0x1c,
  CR0: 0x20,
  CR0ACK: 0x24,
  CR1: 0x28,
  CR2: 0x2c,
  GBPA: 0x44,
  IRQ_CTRL: 0x50,
  GERROR: 0x60,
  GERRORN: 0x64,
  STRTAB_BASE: 0x80,
  STRTAB_BASE_CFG: 0x88,
  CMDQ_BASE: 0x90,
  CMDQ_PROD: 0x98,
  CMDQ_CONS: 0x9c,
  EVENTQ_BASE: 0xa0,
  EVENTQ_PROD: 0xa8,
  EVENTQ_CONS: 0xac,
  PRIQ_BASE: 0xc0,
  PRIQ_PROD: 0xc8,
  PRIQ_CONS: 0xcc,
} as const;
export type RegName = keyof typeof REG_OFFSET;

export const IDR0 = {
  S2P: dwField('S2P', 0, 0),
  S1P: dwField('S1P', 0, 1),
  TTF: dwField('TTF', 0, 3, 2),
  COHACC: dwField('COHACC', 0, 4),
  BTM: dwField('BTM', 0, 5),
  HTTU: dwField('HTTU', 0, 7, 6),
  HYP: dwField('HYP', 0, 9),
  ATS: dwField('ATS', 0, 10),
  ASID16: dwField('ASID16', 0, 12),
  MSI: dwField('MSI', 0, 13),
  SEV: dwField('SEV', 0, 14),
  PRI: dwField('PRI', 0, 16),
  VMID16: dwField('VMID16', 0, 18),
  CD2L: dwField('CD2L', 0, 19),
  TTENDIAN: dwField('TTENDIAN', 0, 22, 21),
  STALL_MODEL: dwField('STALL_MODEL', 0, 25, 24),
  TERM_MODEL: dwField('TERM_MODEL', 0, 26),
  ST_LEVEL: dwField('ST_LEVEL', 0, 28, 27),
} as const satisfies Record<string, BitField>;
/** IDR0.TTF 0b10: AArch64 tables only. IDR0.TTENDIAN 0b10: little-endian only. */
export const TTF_AARCH64 = 2;
export const TTENDIAN_LE = 2;
/** IDR0.STALL_MODEL: 0 stall and terminate, 1 terminate only, 2 stall forced. */
export const STALL_MODEL_STALL = 0;
export const STALL_MODEL_TERMINATE = 1;
/** IDR0.ST_LEVEL: 0 linear stream table only, 1 two-level supported. */
export const ST_LEVEL_2LVL = 1;

export const IDR1 = {
  SIDSIZE: dwField('SIDSIZE', 0, 5, 0),
  SSIDSIZE: dwField('SSIDSIZE', 0, 10, 6),
  PRIQS: dwField('PRIQS', 0, 15, 11),
  EVENTQS: dwField('EVENTQS', 0, 20, 16),
  CMDQS: dwField('CMDQS', 0, 25, 21),
  ATTR_TYPES_OVR: dwField('ATTR_TYPES_OVR', 0, 27),
  REL: dwField('REL', 0, 28),
  QUEUES_PRESET: dwField('QUEUES_PRESET', 0, 29),
  TABLES_PRESET: dwField('TABLES_PRESET', 0, 30),
} as const satisfies Record<string, BitField>;

export const IDR3 = {
  HAD: dwField('HAD', 0, 2),
  RIL: dwField('RIL', 0, 10),
  BBML: dwField('BBML', 0, 12, 11),
} as const satisfies Record<string, BitField>;

export const IDR5 = {
  OAS: dwField('OAS', 0, 2, 0),
  GRAN4K: dwField('GRAN4K', 0, 4),
  GRAN16K: dwField('GRAN16K', 0, 5),
  GRAN64K: dwField('GRAN64K', 0, 6),
  VAX: dwField('VAX', 0, 11, 10),
  STALL_MAX: dwField('STALL_MAX', 0, 31, 16),
} as const satisfies Record<string, BitField>;

export const CR0 = {
  SMMUEN: dwField('SMMUEN', 0, 0),
  PRIQEN: dwField('PRIQEN', 0, 1),
  EVENTQEN: dwField('EVENTQEN', 0, 2),
  CMDQEN: dwField('CMDQEN', 0, 3),
  ATSCHK: dwField('ATSCHK', 0, 4),
} as const satisfies Record<string, BitField>;

export const CR1 = {
  QUEUE_IC: dwField('QUEUE_IC', 0, 1, 0),
  QUEUE_OC: dwField('QUEUE_OC', 0, 3, 2),
  QUEUE_SH: dwField('QUEUE_SH', 0, 5, 4),
  TABLE_IC: dwField('TABLE_IC', 0, 7, 6),
  TABLE_OC: dwField('TABLE_OC', 0, 9, 8),
  TABLE_SH: dwField('TABLE_SH', 0, 11, 10),
} as const satisfies Record<string, BitField>;
/** CR1 cacheability (CR1_CACHE_WB) and shareability (ARM_SMMU_SH_ISH). */
export const CR1_CACHE_WB = 1;

export const GBPA = {
  ABORT: dwField('ABORT', 0, 20),
  UPDATE: dwField('UPDATE', 0, 31),
} as const satisfies Record<string, BitField>;

/** IRQ_CTRL: the unit's interrupt enables (GERROR_IRQEN[0], PRIQ_IRQEN[1], EVENTQ_IRQEN[2]). */
export const IRQ_CTRL = {
  GERROR_IRQEN: dwField('GERROR_IRQEN', 0, 0),
  PRIQ_IRQEN: dwField('PRIQ_IRQEN', 0, 1),
  EVENTQ_IRQEN: dwField('EVENTQ_IRQEN', 0, 2),
} as const satisfies Record<string, BitField>;

export const GERROR = {
  CMDQ_ERR: dwField('CMDQ_ERR', 0, 0),
  EVENTQ_ABT_ERR: dwField('EVENTQ_ABT_ERR', 0, 2),
  PRIQ_ABT_ERR: dwField('PRIQ_ABT_ERR', 0, 3),
} as const satisfies Record<string, BitField>;

/** STRTAB_BASE: RA[62], ADDR[51:6]. STRTAB_BASE_CFG: LOG2SIZE[5:0], SPLIT[10:6], FMT[17:16]. */
export const STRTAB_BASE = {
  ADDR: dwField('ADDR', 0, 51, 6),
  RA: dwField('RA', 0, 62),
} as const satisfies Record<string, BitField>;
export const STRTAB_BASE_CFG = {
  LOG2SIZE: dwField('LOG2SIZE', 0, 5, 0),
  SPLIT: dwField('SPLIT', 0, 10, 6),
  FMT: dwField('FMT', 0, 17, 16),
} as const satisfies Record<string, BitField>;
export const STRTAB_FMT_LINEAR = 0;
export const STRTAB_FMT_2LVL = 1;

/** CMDQ_BASE / EVENTQ_BASE / PRIQ_BASE: LOG2SIZE[4:0], ADDR[51:5], RA/WA[62] (Linux Q_BASE_*). */
export const Q_BASE = {
  LOG2SIZE: dwField('LOG2SIZE', 0, 4, 0),
  ADDR: dwField('ADDR', 0, 51, 5),
  RWA: dwField('RWA', 0, 62),
} as const satisfies Record<string, BitField>;

/** CMDQ_CONS.ERR[30:24]; EVENTQ/PRIQ PROD.OVFLG[31] and CONS.OVACKFLG[31]. */
export const CMDQ_CONS_ERR = dwField('CMDQ_CONS_ERR', 0, 30, 24);
export const Q_OVERFLOW = dwField('Q_OVERFLOW', 0, 31);

/** Reads a field of a register value. */
export function regField(value: bigint, f: BitField): number {
  return Number(getFieldBig(value, f));
}

export function regWith(value: bigint, f: BitField, x: number): bigint {
  return setFieldBig(value, f, BigInt.asUintN(f.width, BigInt(x)));
}

/** Builds a register value from named fields. */
/** The register an MMIO access by name reaches (EINVAL for a name the SMMU does not have). */
export function regName(name: string): RegName {
  if (typeof name !== 'string' || !Object.hasOwn(REG_OFFSET, name)) fail('EINVAL', `SMMUv3 has no register named ${String(name)}`);
  return name as RegName;
}

export function regValue<F extends Record<string, BitField>>(fields: F, values: Partial<Record<keyof F, number | boolean>>): bigint {
  let v = 0n;
  for (const [k, x] of Object.entries(values)) {
    if (x === undefined || x === false) continue;
    v = regWith(v, fields[k], x === true ? 1 : (x as number));
  }
  return v;
}

export function decodeReg<F extends Record<string, BitField>>(fields: F, value: bigint): Record<keyof F, number> {
  const out = {} as Record<keyof F, number>;
  for (const k of Object.keys(fields) as (keyof F)[]) out[k] = regField(value, fields[k]);
  return out;
}
