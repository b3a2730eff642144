import { fail, type HostMemory } from '@ioasid/core';
import { CR0, REG_OFFSET, STRTAB_BASE_CFG, STRTAB_FMT_2LVL, regField, regWith, type RegName } from './registers.js';
import { SmmuV3 } from './smmu.js';

/** The 64-bit registers (SMMUv3 §6.3); every other one is 32 bits wide. */
const WIDE: ReadonlySet<RegName> = new Set(['STRTAB_BASE', 'CMDQ_BASE', 'EVENTQ_BASE', 'PRIQ_BASE']);
/** Identification registers the unit's features come from (IDR2 / IDR4 / IIDR / AIDR read 0 when absent). */
const ID_REQUIRED = ['IDR0', 'IDR1', 'IDR3', 'IDR5'] as const;
const ID_OPTIONAL = ['IDR2', 'IDR4', 'IIDR', 'AIDR'] as const;
/** Registers software never writes (status, and CR0's acknowledgement): kept out of the programming. */
const NOT_PROGRAMMED: ReadonlySet<RegName> = new Set(['CR0ACK', 'GERROR']);

/** Each queue in the order Linux enables it, with the CR0 bit that does. */
const QUEUES = [
  { enable: CR0.CMDQEN, regs: ['CMDQ_BASE', 'CMDQ_PROD', 'CMDQ_CONS'] },
  { enable: CR0.EVENTQEN, regs: ['EVENTQ_BASE', 'EVENTQ_PROD', 'EVENTQ_CONS'] },
  { enable: CR0.PRIQEN, regs: ['PRIQ_BASE', 'PRIQ_PROD', 'PRIQ_CONS'] },
] as const;

function checked(registers: Readonly<Record<string, bigint>>): Map<RegName, bigint> {
  if (typeof registers !== 'object' || registers === null) fail('EINVAL', 'registers must be an object of register values by SMMUv3 name');
  const out = new Map<RegName, bigint>();
  for (const [name, v] of Object.entries(registers)) {
    if (!Object.hasOwn(REG_OFFSET, name)) fail('EINVAL', `registers.${name}: SMMUv3 has no register named ${name}`);
    const bits = WIDE.has(name as RegName) ? 64 : 32;
    if (typeof v !== 'bigint') fail('EINVAL', `registers.${name} must be a bigint (got ${typeof v})`);
    if (v < 0n || v >= 1n << BigInt(bits)) fail('EINVAL', `registers.${name} = 0x${v.toString(16)} does not fit the ${bits}-bit register`);
    out.set(name as RegName, v);
  }
  return out;
}

function required(regs: Map<RegName, bigint>, name: RegName, why: string): bigint {
  const v = regs.get(name);
  if (v === undefined) fail('EINVAL', `registers.${name} is missing (${why})`);
  return v;
}

/**
 * An SMMUv3 alone over `memory` (no driver): its identification registers from `registers` (a
 * `registers()` snapshot, or a user's own values by the same names), then programmed as Linux
 * arm_smmu_device_reset programs a unit: CR0 = 0, CR1, CR2, STRTAB_BASE(_CFG); each queue's base
 * and pointers before CR0 enables it (command, event, PRI queue), then ATSCHK; IRQ_CTRL, GBPA;
 * and last CR0 with SMMUEN. Required: IDR0/1/3/5, CR0, STRTAB_BASE(_CFG), the base and pointers
 * of every queue CR0 enables, and GBPA while SMMUEN is 0 (it decides every transaction then).
 */
export function unitFromRegisters(memory: HostMemory, registers: Readonly<Record<string, bigint>>): SmmuV3 {
  const regs = checked(registers);
  const ids = Object.fromEntries([
    ...ID_REQUIRED.map((n) => [n, required(regs, n, 'the unit\'s features come from it')] as const),
    ...ID_OPTIONAL.map((n) => [n, regs.get(n) ?? 0n] as const),
  ]) as Record<(typeof ID_REQUIRED)[number] | (typeof ID_OPTIONAL)[number], bigint>;
  const cr0 = required(regs, 'CR0', 'it says what is enabled');
  const strtabCfg = required(regs, 'STRTAB_BASE_CFG', 'the stream table format');
  required(regs, 'STRTAB_BASE', 'the stream table address');
  if (regField(strtabCfg, STRTAB_BASE_CFG.FMT) > STRTAB_FMT_2LVL) fail('EINVAL', `registers.STRTAB_BASE_CFG: FMT ${regField(strtabCfg, STRTAB_BASE_CFG.FMT)} is reserved`);
  for (const q of QUEUES) if (regField(cr0, q.enable)) for (const n of q.regs) required(regs, n, `CR0.${q.enable.name} is set`);
  if (!regField(cr0, CR0.SMMUEN)) required(regs, 'GBPA', 'CR0.SMMUEN is 0, so GBPA decides every transaction');

  const unit = new SmmuV3(memory, ids);
  const done = new Set<RegName>([...ID_REQUIRED, ...ID_OPTIONAL, ...NOT_PROGRAMMED, 'CR0']);
  const put = (name: RegName): void => {
    const v = regs.get(name);
    done.add(name);
    if (v !== undefined) unit.write(name, v);
  };
  unit.write('CR0', 0n);
  put('CR1');
  put('CR2');
  put('STRTAB_BASE');
  put('STRTAB_BASE_CFG');
  let enables = 0n;
  for (const q of QUEUES) {
    for (const n of q.regs) put(n);
    if (!regField(cr0, q.enable)) continue;
    enables = regWith(enables, q.enable, 1);
    unit.write('CR0', enables);
  }
  if (regField(cr0, CR0.ATSCHK)) unit.write('CR0', (enables = regWith(enables, CR0.ATSCHK, 1)));
  put('IRQ_CTRL');
  put('GBPA');
  // Whatever else the snapshot holds that software writes (GERRORN, …), before the final enable.
  for (const name of regs.keys()) if (!done.has(name)) put(name);
  unit.write('CR0', cr0);
  return unit;
}
