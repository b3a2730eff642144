import { fail, type HostMemory } from '@ioasid/core';
import { REG_NAMES, type RegName } from './registers.js';
import { RiscvIommu } from './unit.js';

/**
 * The unit alone over a host-memory image (core's VendorRegistration.hardware): capabilities as
 * given, then programmed as riscv_iommu_init does — fctl, the queue bases and heads/tails, the
 * queue enables, and last ddtp. Caches start empty, as after a reset.
 */
export function unitFromRegisters(memory: HostMemory, registers: Readonly<Record<string, bigint>>): RiscvIommu {
  const need = (n: RegName): bigint => {
    const v = registers[n];
    if (typeof v !== 'bigint' || v < 0n || v >> 64n !== 0n) fail('EINVAL', `riscv-iommu register ${n} is missing or not a 64-bit value`);
    return v;
  };
  for (const n of REG_NAMES) if (n !== 'ipsr') need(n);
  const unit = new RiscvIommu(memory, need('capabilities'));
  unit.write('fctl', need('fctl'));
  for (const q of ['cq', 'fq', 'pq'] as const) {
    unit.write(`${q}b`, need(`${q}b`));
    unit.write(`${q}csr`, need(`${q}csr`) & 3n);
    // The hardware-owned index comes back as it was; the software-owned one is then written.
    const hw = q === 'cq' ? 'cqh' : (`${q}t` as RegName);
    unit.regs.set(hw, need(hw));
    unit.write(q === 'cq' ? 'cqt' : (`${q}h` as RegName), need(q === 'cq' ? 'cqt' : (`${q}h` as RegName)));
  }
  unit.write('ddtp', need('ddtp'));
  return unit;
}
