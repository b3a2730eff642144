import { fail, type HostMemory } from '@ioasid/core';
import { MAX_IAS, type Granule } from './formats/lpae-geometry.js';
import { OP } from './tables/commands.js';
import { StreamTable } from './tables/stream-table.js';
import { SH_ISH } from './tables/ste.js';
import { SmmuV3 } from './hw/smmu.js';
import { capsFromIdRegisters, type IdCaps, type SmmuFeatures } from './hw/features.js';
import { CR0, CR1, CR1_CACHE_WB, STRTAB_BASE, STRTAB_BASE_CFG, STRTAB_FMT_2LVL, STRTAB_FMT_LINEAR, regValue } from './hw/registers.js';
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
  const strtab = new StreamTable(host, { twoLevel, log2size: c.sidBits });
  u.write('STRTAB_BASE', regValue(STRTAB_BASE, { RA: true, ADDR: strtab.baseAddr / 64 }));
  u.write('STRTAB_BASE_CFG', regValue(STRTAB_BASE_CFG, { FMT: twoLevel ? STRTAB_FMT_2LVL : STRTAB_FMT_LINEAR, SPLIT: strtab.split, LOG2SIZE: c.sidBits }));
  const cmdq = new CommandQueue(host, u, Math.min(8, c.cmdqs));
  const evtq = new EventQueue(host, u, Math.min(7, c.eventqs));
  const priq = c.pri ? new PriQueue(host, u, Math.min(8, c.priqs)) : null;
  u.write('CR0', regValue(CR0, { CMDQEN: true }));
  cmdq.issue([[OP.CFGI_ALL, { RANGE: 31 }], [OP.TLBI_NSNH_ALL, {}]]);
  const on = { CMDQEN: true, EVENTQEN: true, PRIQEN: c.pri };
  u.write('CR0', regValue(CR0, on));
  u.write('CR0', regValue(CR0, { ...on, SMMUEN: true }));
  return { strtab, cmdq, evtq, priq };
}

/** Creates the unit on `host`, probes it and resets it. */
export function probeUnit(host: HostMemory, options: SmmuV3Options): ProbedUnit {
  const unit = new SmmuV3(host, options.features);
  const probed = probeCaps(unit);
  return { host, unit, ...probed, ...resetUnit(host, unit, probed.caps, options) };
}
