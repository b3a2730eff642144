import { bit, field, type Field } from '../tables/fields.js';

/**
 * SMMUv3 registers (SMMUv3 §6.3): offsets and fields as Linux
 * drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h (ARM_SMMU_*, IDR0_*, IDR1_*, IDR3_*, IDR5_*, CR0_*,
 * STRTAB_BASE_*, Q_BASE_*) and QEMU hw/arm/smmuv3-internal.h (REG32/FIELD). All fields are
 * within one register (dword 0 of the Field helpers).
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
  S2P: bit(0, 0),
  S1P: bit(0, 1),
  TTF: field(0, 3, 2),
  COHACC: bit(0, 4),
  BTM: bit(0, 5),
  HTTU: field(0, 7, 6),
  HYP: bit(0, 9),
  ATS: bit(0, 10),
  ASID16: bit(0, 12),
  MSI: bit(0, 13),
  SEV: bit(0, 14),
  PRI: bit(0, 16),
  VMID16: bit(0, 18),
  CD2L: bit(0, 19),
  TTENDIAN: field(0, 22, 21),
  STALL_MODEL: field(0, 25, 24),
  TERM_MODEL: bit(0, 26),
  ST_LEVEL: field(0, 28, 27),
} as const satisfies Record<string, Field>;
/** IDR0.TTF 0b10: AArch64 tables only. IDR0.TTENDIAN 0b10: little-endian only. */
export const TTF_AARCH64 = 2;
export const TTENDIAN_LE = 2;
/** IDR0.STALL_MODEL: 0 stall and terminate, 1 terminate only, 2 stall forced. */
export const STALL_MODEL_STALL = 0;
export const STALL_MODEL_TERMINATE = 1;
/** IDR0.ST_LEVEL: 0 linear stream table only, 1 two-level supported. */
export const ST_LEVEL_2LVL = 1;

export const IDR1 = {
  SIDSIZE: field(0, 5, 0),
  SSIDSIZE: field(0, 10, 6),
  PRIQS: field(0, 15, 11),
  EVENTQS: field(0, 20, 16),
  CMDQS: field(0, 25, 21),
  ATTR_TYPES_OVR: bit(0, 27),
  REL: bit(0, 28),
  QUEUES_PRESET: bit(0, 29),
  TABLES_PRESET: bit(0, 30),
} as const satisfies Record<string, Field>;

export const IDR3 = {
  HAD: bit(0, 2),
  RIL: bit(0, 10),
  BBML: field(0, 12, 11),
} as const satisfies Record<string, Field>;

export const IDR5 = {
  OAS: field(0, 2, 0),
  GRAN4K: bit(0, 4),
  GRAN16K: bit(0, 5),
  GRAN64K: bit(0, 6),
  VAX: field(0, 11, 10),
  STALL_MAX: field(0, 31, 16),
} as const satisfies Record<string, Field>;

export const CR0 = {
  SMMUEN: bit(0, 0),
  PRIQEN: bit(0, 1),
  EVENTQEN: bit(0, 2),
  CMDQEN: bit(0, 3),
  ATSCHK: bit(0, 4),
} as const satisfies Record<string, Field>;

export const CR1 = {
  QUEUE_IC: field(0, 1, 0),
  QUEUE_OC: field(0, 3, 2),
  QUEUE_SH: field(0, 5, 4),
  TABLE_IC: field(0, 7, 6),
  TABLE_OC: field(0, 9, 8),
  TABLE_SH: field(0, 11, 10),
} as const satisfies Record<string, Field>;
/** CR1 cacheability (CR1_CACHE_WB) and shareability (ARM_SMMU_SH_ISH). */
export const CR1_CACHE_WB = 1;

export const GBPA = {
  ABORT: bit(0, 20),
  UPDATE: bit(0, 31),
} as const satisfies Record<string, Field>;

export const GERROR = {
  CMDQ_ERR: bit(0, 0),
  EVENTQ_ABT_ERR: bit(0, 2),
  PRIQ_ABT_ERR: bit(0, 3),
} as const satisfies Record<string, Field>;

/** STRTAB_BASE: RA[62], ADDR[51:6]. STRTAB_BASE_CFG: LOG2SIZE[5:0], SPLIT[10:6], FMT[17:16]. */
export const STRTAB_BASE = {
  ADDR: field(0, 51, 6),
  RA: bit(0, 62),
} as const satisfies Record<string, Field>;
export const STRTAB_BASE_CFG = {
  LOG2SIZE: field(0, 5, 0),
  SPLIT: field(0, 10, 6),
  FMT: field(0, 17, 16),
} as const satisfies Record<string, Field>;
export const STRTAB_FMT_LINEAR = 0;
export const STRTAB_FMT_2LVL = 1;

/** CMDQ_BASE / EVENTQ_BASE / PRIQ_BASE: LOG2SIZE[4:0], ADDR[51:5], RA/WA[62] (Linux Q_BASE_*). */
export const Q_BASE = {
  LOG2SIZE: field(0, 4, 0),
  ADDR: field(0, 51, 5),
  RWA: bit(0, 62),
} as const satisfies Record<string, Field>;

/** CMDQ_CONS.ERR[30:24]; EVENTQ/PRIQ PROD.OVFLG[31] and CONS.OVACKFLG[31]. */
export const CMDQ_CONS_ERR = field(0, 30, 24);
export const Q_OVERFLOW = bit(0, 31);

/** Reads a field of a register value. */
export function regField(value: bigint, f: Field): number {
  const v = value >> BigInt(f.lo);
  return Number(v & ((1n << BigInt(f.width)) - 1n));
}

export function regWith(value: bigint, f: Field, x: number): bigint {
  const mask = ((1n << BigInt(f.width)) - 1n) << BigInt(f.lo);
  return (value & ~mask) | ((BigInt(x) << BigInt(f.lo)) & mask);
}

/** Builds a register value from named fields. */
export function regValue<F extends Record<string, Field>>(fields: F, values: Partial<Record<keyof F, number | boolean>>): bigint {
  let v = 0n;
  for (const [k, x] of Object.entries(values)) {
    if (x === undefined || x === false) continue;
    v = regWith(v, fields[k], x === true ? 1 : (x as number));
  }
  return v;
}

export function decodeReg<F extends Record<string, Field>>(fields: F, value: bigint): Record<keyof F, number> {
  const out = {} as Record<keyof F, number>;
  for (const k of Object.keys(fields) as (keyof F)[]) out[k] = regField(value, fields[k]);
  return out;
}
