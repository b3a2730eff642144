import { describe, expect, it } from 'vitest';
import {
  MACHINE_CONTEXT,
  container,
  createMachine,
  fail,
  inject,
  injectable,
  registerVendor,
  listVendors,
  type DeviceDesc,
  type DmaRequest,
  type IoasidInfo,
  type IommuDomain,
  type IommuDriver,
  type MachineContext,
  type TranslateResult,
} from '../src/index.js';

/** A vendor whose driver is a class the machine's child container builds, with the context injected. */
@injectable()
class InjectedDriver implements IommuDriver {
  readonly vendor = 'injected';
  readonly unit = { registers: () => ({ GUEST_SIZE: this.ctx.guestSize }) };
  constructor(@inject(MACHINE_CONTEXT) readonly ctx: MachineContext) {}
  capabilities(dev: DeviceDesc): IoasidInfo {
    return {
      protocols: ['map'],
      nesting: 'none',
      pageSizes: [4096n],
      permittedRanges: [{ start: 0n, last: 0xffffffffn }],
      formats: [],
      pasidTableFormats: [],
      pasidBits: 0,
      coherent: true,
      enqcmd: false,
      pageRequest: dev.pri,
      ats: false,
    };
  }
  createDomain(): IommuDomain {
    fail('EOPNOTSUPP', 'this test driver has no domains');
  }
  translate(req: DmaRequest): TranslateResult {
    return { rid: req.rid, iova: BigInt(req.iovaFrame) << 12n, write: req.write, code: 1, name: 'BLOCKED' };
  }
}

describe('dependency injection', () => {
  it('resolves a vendor driver class from each machine’s own child container, with that machine’s context', () => {
    registerVendor({ vendor: 'injected', description: 'DI test vendor', driver: InjectedDriver });
    expect(listVendors().some((r) => r.vendor === 'injected')).toBe(true);
    const a = createMachine({ vendor: 'injected', guestMemory: 8n << 20n });
    const b = createMachine({ vendor: 'injected', guestMemory: 16n << 20n });
    expect(a.driver).toBeInstanceOf(InjectedDriver);
    expect(a.driver).not.toBe(b.driver);
    expect(a.iommu.registers().GUEST_SIZE).toBe(8n << 20n);
    expect(b.iommu.registers().GUEST_SIZE).toBe(16n << 20n);
    expect((a.driver as InjectedDriver).ctx.hostMemory).toBe(a.hostMemory);
    expect(a.container).not.toBe(container);
    expect(a.container.resolve(MACHINE_CONTEXT).hostMemory).toBe(a.hostMemory);
  });
});
