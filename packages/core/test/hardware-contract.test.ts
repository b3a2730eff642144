import { describe, expect, it } from 'vitest';
import { DmaFault, createMachine, fail, registerVendor, type DeviceDesc, type DmaRequest, type IoasidInfo, type IommuDomain, type IommuDriver, type TranslateResult } from '../src/index.js';

const INFO: IoasidInfo = {
  protocols: ['map'],
  nesting: 'none',
  pageSizes: [4096n],
  permittedRanges: [{ start: 0n, last: 0xffffffffn }],
  formats: [],
  pasidTableFormats: [],
  pasidBits: 0,
  coherent: true,
  enqcmd: false,
  pageRequest: false,
  ats: false,
};

/** A unit that translates every request itself (identity on one frame) and counts what reached it. */
class Unit {
  seen: DmaRequest[] = [];
  registers() {
    return { SEEN: BigInt(this.seen.length) };
  }
  translate(req: DmaRequest): TranslateResult {
    this.seen.push({ ...req });
    if (req.iovaFrame !== 0x3000) return { rid: req.rid, iova: BigInt(req.iovaFrame) << 12n, write: req.write, code: 7, name: 'UNIT_BLOCKED' };
    return 0x3000;
  }
}

class UnitDriver implements IommuDriver {
  readonly vendor = 'unit-translates';
  readonly unit = new Unit();
  capabilities(_dev: DeviceDesc): IoasidInfo {
    return INFO;
  }
  createDomain(): IommuDomain {
    fail('EOPNOTSUPP', 'no domains');
  }
  translate(): TranslateResult {
    throw new Error('the bus must send DMA to the hardware unit, not the driver');
  }
}

describe('one hardware contract: DMA goes to the unit the driver probed (issue 16 item 4)', () => {
  it('the bus calls unit.translate when the unit has one; the driver is not asked', () => {
    registerVendor({ vendor: 'unit-translates', description: 'test', create: () => new UnitDriver() });
    const m = createMachine({ vendor: 'unit-translates', guestMemory: 4n << 20n, hostMemory: 64n << 20n });
    const unit = m.driver.unit as Unit;
    m.device('dev0').dmaWrite(0x3000_123n, new Uint8Array([1, 2, 3]));
    expect(unit.seen).toEqual([{ rid: 8, pasid: -1, iovaFrame: 0x3000, offset: 0x123, write: true, privileged: false }]);
    expect([...m.hostMemory.read(0x3000_123n, 3)]).toEqual([1, 2, 3]);
    expect(() => m.device('dev0').dmaRead(0x6000_000n, 1)).toThrow(DmaFault);
    expect(m.iommu.registers().SEEN).toBe(2n);
  });
});
