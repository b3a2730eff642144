import { describe, expect, it } from 'vitest';
import { AllocInjector, HostMemory, IoasidError, WalkTracer, findVendor, type DmaRequest } from '@ioasid/core';
import { FAULT_CATALOGUE, SmmuV3, registration, unitFromRegisters } from '../src/index.js';
import { allFlows } from './machine-flows.js';

/** The machine's host memory, chunk by chunk, in a fresh HostMemory of the same size (nothing else carried over). */
function exported(host: HostMemory): HostMemory {
  const copy = new HostMemory(new AllocInjector(), host.size);
  for (const { pa, bytes } of host.image()) copy.write(pa, bytes);
  return copy;
}

function walk(unit: { walk?: SmmuV3['walk'] }, req: DmaRequest) {
  const t = new WalkTracer();
  const result = unit.walk!(req, t);
  return { result, trace: t.finish(result, req.offset ?? 0) };
}

describe('the SMMUv3 alone over a memory image (VendorRegistration.hardware)', () => {
  it('rebuilt from registers() over an export of host memory, it walks every flow exactly as the live unit does', () => {
    const { m, routes } = allFlows();
    const image = unitFromRegisters(exported(m.hostMemory), m.iommu.registers());
    expect(image.registers()).toEqual(m.iommu.registers());
    let compared = 0;
    for (const r of routes) {
      for (const iova of r.iovas) {
        for (const write of [false, true]) {
          const req: DmaRequest = { rid: r.dev.rid, pasid: r.pasid ?? -1, iovaFrame: Number(iova >> 12n), offset: Number(iova & 0xfffn), write, privileged: false };
          const live = walk(m.iommu as SmmuV3, req);
          const alone = walk(image, req);
          expect(alone, `${r.what} ${write ? 'write' : 'read'} 0x${iova.toString(16)}`).toEqual(live);
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(100);
    // A StreamID nobody uses, and one beyond the stream table.
    for (const rid of [0x77, 0x1_0000]) {
      const req: DmaRequest = { rid, pasid: -1, iovaFrame: 1, write: false, privileged: false };
      expect(walk(image, req)).toEqual(walk(m.iommu as SmmuV3, req));
    }
    // And it translates like the live unit (its caches start empty).
    const dev0 = routes[0];
    expect(image.translate({ rid: dev0.dev.rid, pasid: -1, iovaFrame: 0x201, write: false, privileged: false })).toBe(
      (m.iommu as SmmuV3).translate({ rid: dev0.dev.rid, pasid: -1, iovaFrame: 0x201, write: false, privileged: false }),
    );
  });

  it('is what the vendor registers, with the fault catalogue', () => {
    const reg = findVendor('arm-smmuv3');
    expect(reg.hardware).toBe(unitFromRegisters);
    expect(registration.faults).toBe(FAULT_CATALOGUE);
  });

  it('a missing or malformed register is EINVAL naming it', () => {
    const { m } = allFlows();
    const regs = m.iommu.registers();
    const mem = exported(m.hostMemory);
    const refuse = (r: Record<string, bigint>, what: RegExp) => {
      let err: unknown;
      try {
        unitFromRegisters(mem, r);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(IoasidError);
      expect((err as IoasidError).errno).toBe('EINVAL');
      expect((err as Error).message).toMatch(what);
    };
    for (const name of ['IDR0', 'IDR1', 'IDR3', 'IDR5', 'CR0', 'STRTAB_BASE', 'STRTAB_BASE_CFG', 'CMDQ_BASE', 'EVENTQ_PROD', 'PRIQ_CONS']) {
      const { [name]: _gone, ...rest } = regs;
      refuse(rest, new RegExp(`registers\\.${name} is missing`));
    }
    refuse({ ...regs, CR0: -1n }, /registers\.CR0 .*does not fit the 32-bit register/);
    refuse({ ...regs, STRTAB_BASE: 1n << 64n }, /registers\.STRTAB_BASE .*64-bit/);
    refuse({ ...regs, IDR0: 5 as unknown as bigint }, /registers\.IDR0 must be a bigint/);
    refuse({ ...regs, STRTAB_BASE_CFGG: 0n }, /registers\.STRTAB_BASE_CFGG: SMMUv3 has no register/);
    refuse({ ...regs, STRTAB_BASE_CFG: regs.STRTAB_BASE_CFG | (3n << 16n) }, /STRTAB_BASE_CFG: FMT 3 is reserved/);
    // With SMMUEN clear, GBPA decides every transaction and must be given; the queues of a clear enable need not.
    const { GBPA: _g, CMDQ_BASE: _c, ...off }: Record<string, bigint> = { ...regs, CR0: 0n };
    refuse(off, /registers\.GBPA is missing/);
    const bypass = unitFromRegisters(mem, { ...off, GBPA: 0n });
    expect(bypass.translate({ rid: 8, pasid: -1, iovaFrame: 0x1234, write: false, privileged: false })).toBe(0x1234);
  });

  it('a user\'s own minimal register set: ID registers, the stream table and CR0', () => {
    const { m, routes } = allFlows();
    const r = m.iommu.registers();
    const mine = { IDR0: r.IDR0, IDR1: r.IDR1, IDR3: r.IDR3, IDR5: r.IDR5, STRTAB_BASE: r.STRTAB_BASE, STRTAB_BASE_CFG: r.STRTAB_BASE_CFG, CR0: 1n };
    const unit = unitFromRegisters(exported(m.hostMemory), mine);
    const dev0 = routes[0];
    const req: DmaRequest = { rid: dev0.dev.rid, pasid: -1, iovaFrame: 0x201, offset: 0, write: true, privileged: false };
    expect(walk(unit, req)).toEqual(walk(m.iommu as SmmuV3, req));
    expect(unit.registers()).toMatchObject({ CR0: 1n, CR0ACK: 1n, GBPA: 1n << 20n, AIDR: 0n });
  });
});
