import { getFieldBig, type BitField } from '@ioasid/core';
import type { Granule } from '../formats/lpae-geometry.js';
import { psEncode } from '../formats/lpae-geometry.js';
import {
  IDR0,
  IDR1,
  IDR3,
  IDR5,
  STALL_MODEL_STALL,
  STALL_MODEL_TERMINATE,
  ST_LEVEL_2LVL,
  TTENDIAN_LE,
  TTF_AARCH64,
  regValue,
} from './registers.js';

/** What this SMMU implementation offers; the ID registers are built from it (and nothing else). */
export interface SmmuFeatures {
  granules: readonly Granule[];
  /** Output address size (IDR5.OAS). */
  oasBits: number;
  /** StreamID and SubstreamID widths (IDR1.SIDSIZE / SSIDSIZE). */
  sidBits: number;
  ssidBits: number;
  twoLevelStreamTable: boolean;
  twoLevelCdTable: boolean;
  ats: boolean;
  pri: boolean;
  stall: boolean;
  coherent: boolean;
  /** Range invalidation (IDR3.RIL): TLBI commands carry NUM/SCALE/TG. */
  rangeInvalidation: boolean;
  /** Maximum log2 queue sizes (IDR1.CMDQS / EVENTQS / PRIQS). */
  cmdqs: number;
  eventqs: number;
  priqs: number;
  /** Maximum outstanding stalls (IDR5.STALL_MAX). */
  stallMax: number;
  /** ASID and VMID widths (IDR0.ASID16 / VMID16: 16 bits, else 8). */
  asidBits: 8 | 16;
  vmidBits: 8 | 16;
  /** Hardware translation table updates (IDR0.HTTU): 0 none, 1 access flag, 2 access flag and dirty state. */
  httu: 0 | 1 | 2;
}

export const DEFAULT_FEATURES: SmmuFeatures = {
  granules: [4096, 16384, 65536],
  oasBits: 48,
  sidBits: 16,
  ssidBits: 20,
  twoLevelStreamTable: true,
  twoLevelCdTable: true,
  ats: true,
  pri: true,
  stall: true,
  coherent: true,
  rangeInvalidation: true,
  cmdqs: 19,
  eventqs: 19,
  priqs: 19,
  stallMax: 32,
  asidBits: 16,
  vmidBits: 16,
  // Access flag and dirty state, as Linux needs for dirty tracking (ARM_SMMU_FEAT_HD).
  httu: 2,
};

export interface IdRegisters {
  IDR0: bigint;
  IDR1: bigint;
  IDR2: bigint;
  IDR3: bigint;
  IDR4: bigint;
  IDR5: bigint;
}

/** Every identification register: IDR0–IDR5, and IIDR / AIDR when known (0 otherwise). */
export interface IdRegisterValues extends IdRegisters {
  IIDR?: bigint;
  AIDR?: bigint;
}

export function idRegisters(f: SmmuFeatures): IdRegisters {
  return {
    IDR0: regValue(IDR0, {
      S2P: true,
      S1P: true,
      TTF: TTF_AARCH64,
      COHACC: f.coherent,
      HTTU: f.httu,
      ATS: f.ats,
      ASID16: f.asidBits === 16,
      MSI: true,
      SEV: true,
      PRI: f.pri,
      VMID16: f.vmidBits === 16,
      CD2L: f.twoLevelCdTable,
      TTENDIAN: TTENDIAN_LE,
      STALL_MODEL: f.stall ? STALL_MODEL_STALL : STALL_MODEL_TERMINATE,
      // Only the abort termination model (CD.A must be 1), as QEMU's SMMUv3 offers.
      TERM_MODEL: 1,
      ST_LEVEL: f.twoLevelStreamTable ? ST_LEVEL_2LVL : 0,
    }),
    IDR1: regValue(IDR1, {
      SIDSIZE: f.sidBits,
      SSIDSIZE: f.ssidBits,
      PRIQS: f.priqs,
      EVENTQS: f.eventqs,
      CMDQS: f.cmdqs,
    }),
    IDR2: 0n,
    IDR3: regValue(IDR3, { RIL: f.rangeInvalidation }),
    IDR4: 0n,
    IDR5: regValue(IDR5, {
      OAS: psEncode(f.oasBits),
      GRAN4K: f.granules.includes(4096),
      GRAN16K: f.granules.includes(16384),
      GRAN64K: f.granules.includes(65536),
      STALL_MAX: f.stall ? f.stallMax : 0,
    }),
  };
}

/** The features as read back from ID register values (what both the driver probe and the hardware model go by). */
export interface IdCaps {
  s1p: boolean;
  s2p: boolean;
  coherent: boolean;
  ats: boolean;
  pri: boolean;
  cd2l: boolean;
  stall: boolean;
  twoLevelStreamTable: boolean;
  sidBits: number;
  ssidBits: number;
  cmdqs: number;
  eventqs: number;
  priqs: number;
  rangeInvalidation: boolean;
  oasBits: number;
  /**
   * IAS, the largest IPA (SMMUv3 §3.4): MAX(IDR0.TTF[0] ? 40 : 0, IDR0.TTF[1] ? OAS : 0), so
   * equal to OAS on this AArch64-only unit.
   */
  iasBits: number;
  /** ASID and VMID widths (IDR0.ASID16, IDR0.VMID16). */
  asidBits: number;
  vmidBits: number;
  /** IDR0.HTTU (0, 1, 2; the reserved 3 reads as none). */
  httu: 0 | 1 | 2;
  granules: Granule[];
}

export function capsFromIdRegisters(r: Pick<IdRegisters, 'IDR0' | 'IDR1' | 'IDR3' | 'IDR5'>): IdCaps {
  const f = (v: bigint, fl: BitField): number => Number(getFieldBig(v, fl));
  const granules: Granule[] = [];
  if (f(r.IDR5, IDR5.GRAN4K)) granules.push(4096);
  if (f(r.IDR5, IDR5.GRAN16K)) granules.push(16384);
  if (f(r.IDR5, IDR5.GRAN64K)) granules.push(65536);
  const oasField = f(r.IDR5, IDR5.OAS);
  const oasBits = [32, 36, 40, 42, 44, 48, 52][Math.min(oasField, 6)];
  const ttf = f(r.IDR0, IDR0.TTF);
  return {
    s1p: f(r.IDR0, IDR0.S1P) === 1,
    s2p: f(r.IDR0, IDR0.S2P) === 1,
    coherent: f(r.IDR0, IDR0.COHACC) === 1,
    ats: f(r.IDR0, IDR0.ATS) === 1,
    pri: f(r.IDR0, IDR0.PRI) === 1,
    cd2l: f(r.IDR0, IDR0.CD2L) === 1,
    stall: f(r.IDR0, IDR0.STALL_MODEL) !== STALL_MODEL_TERMINATE,
    twoLevelStreamTable: f(r.IDR0, IDR0.ST_LEVEL) === ST_LEVEL_2LVL,
    sidBits: f(r.IDR1, IDR1.SIDSIZE),
    ssidBits: f(r.IDR1, IDR1.SSIDSIZE),
    cmdqs: f(r.IDR1, IDR1.CMDQS),
    eventqs: f(r.IDR1, IDR1.EVENTQS),
    priqs: f(r.IDR1, IDR1.PRIQS),
    rangeInvalidation: f(r.IDR3, IDR3.RIL) === 1,
    oasBits,
    iasBits: Math.max(ttf & 1 ? 40 : 0, ttf & 2 ? oasBits : 0),
    asidBits: f(r.IDR0, IDR0.ASID16) === 1 ? 16 : 8,
    vmidBits: f(r.IDR0, IDR0.VMID16) === 1 ? 16 : 8,
    httu: ([0, 1, 2, 0] as const)[f(r.IDR0, IDR0.HTTU)],
    granules,
  };
}
