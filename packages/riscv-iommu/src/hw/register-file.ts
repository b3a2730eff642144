import { getFieldBig, setFieldBig, type BitField } from '@ioasid/core';
import { CQCSR, FQCSR, IPSR, PQCSR, REG_NAMES, REGISTERS, type RegName } from './registers.js';

/**
 * The register file's values and the write rules of spec chapter 5: read-only capabilities and
 * fctl (this unit is little-endian only, MSI interrupts only, no Sv32), head/tail registers masked
 * to their queue's index width by the unit, RW1C status bits.
 */
export class RegisterFile {
  private readonly v = new Map<RegName, bigint>();

  constructor(capabilities: bigint) {
    for (const n of REG_NAMES) this.v.set(n, 0n);
    this.v.set('capabilities', capabilities);
  }

  get(name: RegName): bigint {
    return this.v.get(name)!;
  }

  set(name: RegName, value: bigint): void {
    const bytes = REGISTERS[name].size;
    this.v.set(name, value & ((1n << BigInt(8 * bytes)) - 1n));
  }

  bit(name: RegName, f: BitField): boolean {
    return getFieldBig(this.get(name), f) !== 0n;
  }

  setBit(name: RegName, f: BitField, on: boolean): void {
    this.set(name, setFieldBig(this.get(name), f, on ? 1 : 0));
  }

  snapshot(): Record<string, bigint> {
    return Object.fromEntries(REG_NAMES.map((n) => [n, this.get(n)]));
  }
}

/** The RW1C bits of each csr (errors and overflow flags) and of ipsr. */
export const RW1C: Partial<Record<RegName, bigint>> = {
  cqcsr: (1n << BigInt(CQCSR.cqmf.lo)) | (1n << BigInt(CQCSR.cmd_to.lo)) | (1n << BigInt(CQCSR.cmd_ill.lo)) | (1n << BigInt(CQCSR.fence_w_ip.lo)),
  fqcsr: (1n << BigInt(FQCSR.fqmf.lo)) | (1n << BigInt(FQCSR.fqof.lo)),
  pqcsr: (1n << BigInt(PQCSR.pqmf.lo)) | (1n << BigInt(PQCSR.pqof.lo)),
  ipsr: 0xfn,
};

/** The bits software may write in each csr (enable and interrupt enable). */
export const CSR_RW: Partial<Record<RegName, bigint>> = {
  cqcsr: 3n,
  fqcsr: 3n,
  pqcsr: 3n,
};

export { IPSR };
