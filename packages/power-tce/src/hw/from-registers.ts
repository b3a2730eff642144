import { fail, fieldMaskBig, setFieldBig, type HostMemory } from '@ioasid/core';
import { Phb4 } from './phb.js';
import {
  IODA3_TBL_PEEV,
  IODA3_TBL_PESTA,
  IODA3_TBL_PESTB,
  IODA3_TBL_TVT,
  PHB_IODA_AD_AUTOINC,
  PHB_IODA_AD_TADR,
  PHB_IODA_AD_TSEL,
  PHB_PHB4_EEH_CAP_MAX_PES_SHIFT,
  PHB_RTC_INVALIDATE_ALL,
  PHB_RTT_BAR_ENABLE,
  PHB_RTT_BASE_ADDRESS,
  PHB_TCE_KILL_ALL,
} from './registers.js';

const U64_LIMIT = 1n << 64n;
/** PEs a PHB4 can have: PHB_TCE_KILL_PENUM is 9 bits (as the vendor options allow). */
const MAX_PES = 512;
const RTT_BAR_BITS = PHB_RTT_BAR_ENABLE | fieldMaskBig(PHB_RTT_BASE_ADDRESS);
const TABLES: Record<string, number> = { TVT: IODA3_TBL_TVT, PESTA: IODA3_TBL_PESTA, PESTB: IODA3_TBL_PESTB, PEEV: IODA3_TBL_PEEV };

interface IodaImage {
  numPes: number;
  rttBar: bigint;
  /** Entries by IODA table name (TVT, PESTA, PESTB, PEEV), absent ones 0. */
  tables: Record<string, Map<number, bigint>>;
}

function value(name: string, v: unknown): bigint {
  if (typeof v !== 'bigint' || v < 0n || v >= U64_LIMIT) fail('EINVAL', `register ${name} must be a 64-bit unsigned bigint (got ${String(v)})`);
  return v;
}

/** The PHB's configuration from a registers() snapshot (or a user's values by the same names). */
function parse(registers: Readonly<Record<string, bigint>>): IodaImage {
  if (registers === null || typeof registers !== 'object') fail('EINVAL', 'registers must be an object of register names to values');
  const cap = registers.PHB_PHB4_EEH_CAP;
  if (cap === undefined) fail('EINVAL', 'register PHB_PHB4_EEH_CAP is missing (it gives the number of PEs)');
  const capValue = value('PHB_PHB4_EEH_CAP', cap);
  const numPes = Number(capValue >> PHB_PHB4_EEH_CAP_MAX_PES_SHIFT);
  if (capValue !== BigInt(numPes) << PHB_PHB4_EEH_CAP_MAX_PES_SHIFT || numPes < 2 || numPes > MAX_PES || (numPes & (numPes - 1)) !== 0) {
    fail('EINVAL', `register PHB_PHB4_EEH_CAP = 0x${capValue.toString(16)}: bits 63:52 must hold a power-of-two PE count from 2 to ${MAX_PES}, the rest 0`);
  }
  const bar = registers.PHB_RTT_BAR;
  if (bar === undefined) fail('EINVAL', 'register PHB_RTT_BAR is missing');
  const rttBar = value('PHB_RTT_BAR', bar);
  if ((rttBar & ~RTT_BAR_BITS) !== 0n) fail('EINVAL', `register PHB_RTT_BAR = 0x${rttBar.toString(16)} sets bits outside PHB_RTT_BAR_ENABLE and PHB_RTT_BASE_ADDRESS`);
  const sizes: Record<string, number> = { TVT: numPes * 2, PESTA: numPes, PESTB: numPes, PEEV: Math.max(1, numPes / 64) };
  const tables: Record<string, Map<number, bigint>> = { TVT: new Map(), PESTA: new Map(), PESTB: new Map(), PEEV: new Map() };
  for (const [name, v] of Object.entries(registers)) {
    if (name === 'PHB_PHB4_EEH_CAP' || name === 'PHB_RTT_BAR') continue;
    const m = /^(TVT|PESTA|PESTB|PEEV)\[(0|[1-9]\d*)\]$/.exec(name);
    if (!m) fail('EINVAL', `register ${name} is not one the PHB4 is configured from (PHB_PHB4_EEH_CAP, PHB_RTT_BAR, TVT[n], PESTA[n], PESTB[n], PEEV[n])`);
    const index = Number(m[2]);
    if (index >= sizes[m[1]]) fail('EINVAL', `register ${name}: ${m[1]} has ${sizes[m[1]]} entries on a PHB with ${numPes} PEs`);
    tables[m[1]].set(index, value(name, v));
  }
  return { numPes, rttBar, tables };
}

function iodaSelect(phb: Phb4, table: string, index: number, autoinc: boolean): void {
  const sel = setFieldBig(setFieldBig(0n, PHB_IODA_AD_TSEL, TABLES[table]), PHB_IODA_AD_TADR, index);
  phb.write('PHB_IODA_ADDR', autoinc ? sel | PHB_IODA_AD_AUTOINC : sel);
}

/**
 * A PHB4 alone over a host-memory image, configured from its registers as skiboot programs one
 * (hw/phb4.c phb4_init_ioda3 and phb4_ioda_reset): PHB_RTT_BAR, then the TVT through
 * PHB_IODA_ADDR / PHB_IODA_DATA0 with auto-increment, PESTA and PESTB one entry at a time, the
 * PEEV with auto-increment, and an RTC invalidate and TCE kill of everything. No driver or
 * firmware object is involved; the RTT and the TCE tables are whatever the image holds.
 */
export function phb4FromRegisters(memory: HostMemory, registers: Readonly<Record<string, bigint>>): Phb4 {
  const { numPes, rttBar, tables } = parse(registers);
  const phb = new Phb4(memory, { numPes });
  phb.write('PHB_RTT_BAR', rttBar);
  const entry = (table: string, i: number) => tables[table].get(i) ?? 0n;
  iodaSelect(phb, 'TVT', 0, true);
  for (let i = 0; i < numPes * 2; i++) phb.write('PHB_IODA_DATA0', entry('TVT', i));
  for (let pe = 0; pe < numPes; pe++) {
    iodaSelect(phb, 'PESTA', pe, false);
    phb.write('PHB_IODA_DATA0', entry('PESTA', pe));
    iodaSelect(phb, 'PESTB', pe, false);
    phb.write('PHB_IODA_DATA0', entry('PESTB', pe));
  }
  iodaSelect(phb, 'PEEV', 0, true);
  for (let i = 0; i < Math.max(1, numPes / 64); i++) phb.write('PHB_IODA_DATA0', entry('PEEV', i));
  phb.write('PHB_RTC_INVALIDATE', PHB_RTC_INVALIDATE_ALL);
  phb.write('PHB_TCE_KILL', PHB_TCE_KILL_ALL);
  return phb;
}
