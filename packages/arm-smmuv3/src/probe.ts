import { fail, type HostMemory } from '@ioasid/core';
import { GRANULES, MAX_IAS, PS_BITS, type Granule } from './formats/lpae-geometry.js';
import { OP } from './tables/commands.js';
import { StreamTable } from './tables/stream-table.js';
import { SH_ISH } from './tables/ste.js';
import { SmmuV3 } from './hw/smmu.js';
import { DEFAULT_FEATURES, capsFromIdRegisters, type IdCaps, type SmmuFeatures } from './hw/features.js';
import { CR0, CR1, IRQ_CTRL, CR1_CACHE_WB, STRTAB_BASE, STRTAB_BASE_CFG, STRTAB_FMT_2LVL, STRTAB_FMT_LINEAR, regValue, regWith } from './hw/registers.js';
import { CommandQueue } from './cmdq.js';
import { EventQueue, PriQueue } from './event-queues.js';

export interface SmmuV3Options {
  /** Overrides of the implementation's features (the ID registers follow). */
  features?: Partial<SmmuFeatures>;
  /** Stream table format; two-level by default when SMMU_IDR0.ST_LEVEL allows it (as Linux). */
  streamTable?: 'linear' | 'two-level';
}

/** What the probe read from the ID registers. */
export interface ProbedCaps {
  readonly caps: IdCaps;
  /** Input address size of stage 1 and stage 2 (IAS). */
  readonly ias: number;
  /** Granule of kernel-managed tables (4K when IDR5 offers it, as Linux with 4K pages). */
  readonly mapGranule: Granule;
}

/** The tables and queues the reset programmed into the unit. */
export interface ResetState {
  readonly strtab: StreamTable;
  readonly cmdq: CommandQueue;
  readonly evtq: EventQueue;
  readonly priq: PriQueue | null;
}

/** The unit as the kernel found it and set it up. */
export interface ProbedUnit extends ProbedCaps, ResetState {
  readonly host: HostMemory;
  readonly unit: SmmuV3;
}

/** Probe (Linux arm_smmu_device_hw_probe): everything the driver knows comes from the IDRs. */
export function probeCaps(u: SmmuV3): ProbedCaps {
  const c = capsFromIdRegisters({ IDR0: u.read('IDR0'), IDR1: u.read('IDR1'), IDR3: u.read('IDR3'), IDR5: u.read('IDR5') });
  if (!c.s2p) fail('ENODEV', 'this model needs stage 2 (SMMU_IDR0.S2P)');
  if (c.granules.length === 0) fail('ENODEV', 'SMMU_IDR5 offers no translation granule');
  const ias = Math.min(MAX_IAS, Math.max(c.s1p ? 48 : 0, c.oasBits));
  const mapGranule = c.granules.includes(4096) ? 4096 : c.granules[0];
  return { caps: c, ias, mapGranule };
}

/** Reset (Linux arm_smmu_device_reset): tables and queues first, then enable. */
export function resetUnit(host: HostMemory, u: SmmuV3, c: IdCaps, options: SmmuV3Options): ResetState {
  u.write('CR0', 0n);
  u.write('CR1', regValue(CR1, { QUEUE_IC: CR1_CACHE_WB, QUEUE_OC: CR1_CACHE_WB, QUEUE_SH: SH_ISH, TABLE_IC: CR1_CACHE_WB, TABLE_OC: CR1_CACHE_WB, TABLE_SH: SH_ISH }));
  const twoLevel = options.streamTable ? options.streamTable === 'two-level' : c.twoLevelStreamTable;
  if (twoLevel && !c.twoLevelStreamTable) fail('EINVAL', 'two-level stream tables are not supported (SMMU_IDR0.ST_LEVEL)');
  const strtab = new StreamTable(host, { twoLevel, log2size: c.sidBits, addrBits: c.oasBits });
  u.write('STRTAB_BASE', regValue(STRTAB_BASE, { RA: true, ADDR: strtab.baseAddr / 64 }));
  u.write('STRTAB_BASE_CFG', regValue(STRTAB_BASE_CFG, { FMT: twoLevel ? STRTAB_FMT_2LVL : STRTAB_FMT_LINEAR, SPLIT: strtab.split, LOG2SIZE: c.sidBits }));
  const cmdq = new CommandQueue(host, u, Math.min(8, c.cmdqs), c.oasBits);
  const evtq = new EventQueue(host, u, Math.min(7, c.eventqs), c.oasBits);
  const priq = c.pri ? new PriQueue(host, u, Math.min(8, c.priqs), c.oasBits) : null;
  // The event and PRI queue interrupts (Linux arm_smmu_setup_irqs): the driver's handlers drain the queues.
  u.write('IRQ_CTRL', regValue(IRQ_CTRL, { GERROR_IRQEN: true, EVENTQ_IRQEN: true, PRIQ_IRQEN: c.pri }));
  u.write('CR0', regValue(CR0, { CMDQEN: true }));
  cmdq.issue([[OP.CFGI_ALL, { RANGE: 31 }], [OP.TLBI_NSNH_ALL, {}]]);
  // As Linux arm_smmu_device_reset: the event queue, the PRI queue (ARM_SMMU_FEAT_PRI), ATS
  // checking of Translated traffic (ARM_SMMU_FEAT_ATS, from IDR0.ATS), then translation.
  let on = regValue(CR0, { CMDQEN: true, EVENTQEN: true });
  u.write('CR0', on);
  for (const [has, f] of [[c.pri, CR0.PRIQEN], [c.ats, CR0.ATSCHK]] as const) {
    if (!has) continue;
    on = regWith(on, f, 1);
    u.write('CR0', on);
  }
  u.write('CR0', regWith(on, CR0.SMMUEN, 1));
  return { strtab, cmdq, evtq, priq };
}

/** Integer ranges of the numeric features: the ID register fields' architectural values. */
const FEATURE_INTS: Partial<Record<keyof SmmuFeatures, [number, number, string]>> = {
  sidBits: [0, 32, 'SMMU_IDR1.SIDSIZE'],
  ssidBits: [0, 20, 'SMMU_IDR1.SSIDSIZE'],
  cmdqs: [0, 19, 'SMMU_IDR1.CMDQS'],
  eventqs: [0, 19, 'SMMU_IDR1.EVENTQS'],
  priqs: [0, 19, 'SMMU_IDR1.PRIQS'],
  stallMax: [0, 0xffff, 'SMMU_IDR5.STALL_MAX'],
  httu: [0, 2, 'SMMU_IDR0.HTTU'],
};

/**
 * The machine's `smmuv3` options, checked whole before the unit is built: each feature must be
 * one the ID registers can advertise (EINVAL naming it otherwise).
 */
export function checkOptions(options: unknown): SmmuV3Options {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) fail('EINVAL', 'smmuv3 options must be an object { features?, streamTable? }');
  const o = options as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'features' && k !== 'streamTable') fail('EINVAL', `smmuv3.${k} is not an SMMUv3 option (features, streamTable)`);
  if (o.streamTable !== undefined && o.streamTable !== 'linear' && o.streamTable !== 'two-level') {
    fail('EINVAL', `smmuv3.streamTable must be 'linear' or 'two-level' (got ${String(o.streamTable)})`);
  }
  const f = o.features;
  if (f === undefined) return o as SmmuV3Options;
  if (typeof f !== 'object' || f === null) fail('EINVAL', 'smmuv3.features must be an object');
  for (const [k, v] of Object.entries(f)) {
    const name = `smmuv3.features.${k}`;
    if (!(k in DEFAULT_FEATURES)) fail('EINVAL', `${name} is not an SMMUv3 feature (${Object.keys(DEFAULT_FEATURES).join(', ')})`);
    if (v === undefined) continue;
    const def = DEFAULT_FEATURES[k as keyof SmmuFeatures];
    const range = FEATURE_INTS[k as keyof SmmuFeatures];
    if (typeof def === 'boolean') {
      if (typeof v !== 'boolean') fail('EINVAL', `${name} must be a boolean (got ${String(v)})`);
    } else if (k === 'granules') {
      if (!Array.isArray(v) || v.some((g) => !GRANULES.includes(g as Granule))) fail('EINVAL', `${name} must list granules among ${GRANULES.join(', ')}`);
    } else if (k === 'oasBits') {
      if (!PS_BITS.includes(v as (typeof PS_BITS)[number])) fail('EINVAL', `${name} must be an SMMU_IDR5.OAS size (${PS_BITS.join(', ')})`);
    } else if (k === 'asidBits' || k === 'vmidBits') {
      if (v !== 8 && v !== 16) fail('EINVAL', `${name} must be 8 or 16 (SMMU_IDR0.${k === 'asidBits' ? 'ASID16' : 'VMID16'})`);
    } else if (range) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < range[0] || v > range[1]) fail('EINVAL', `${name} must be an integer in ${range[0]}..${range[1]} (${range[2]})`);
    }
  }
  return o as SmmuV3Options;
}

/** Creates the unit on `host`, probes it and resets it. */
export function probeUnit(host: HostMemory, options: SmmuV3Options): ProbedUnit {
  checkOptions(options);
  const unit = new SmmuV3(host, options.features);
  const probed = probeCaps(unit);
  return { host, unit, ...probed, ...resetUnit(host, unit, probed.caps, options) };
}
