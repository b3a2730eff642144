/**
 * The flat IOMMU's own tests: golden encodings of its structures, and the hardware view
 * (registers + raw memory) that an outside checker would use (DESIGN §8). A vendor author
 * copying this example replaces these vectors with the ones of their specification.
 */
import { describe, expect, it } from 'vitest';
import { DmaFault, createMachine } from '@ioasid/core';
import {
  FAULT,
  TT_NESTED,
  TT_S2,
  bytesToQwords,
  decodeCap,
  decodeContext,
  encodeContext,
  encodeFlatEntry,
  flatFormat,
  invCommand,
  EMPTY_CONTEXT,
  INV_IOTLB_DOMAIN,
} from '@ioasid-example/flat-iommu';

describe('golden encodings', () => {
  it('flat entry: V | R | W | ADDR', () => {
    expect(encodeFlatEntry(0x123456000n, true, false)).toBe(0x123456003n);
    expect(encodeFlatEntry(0xabcdef000n, true, true)).toBe(0xabcdef007n);
    const fmt = flatFormat(22);
    const w = new Uint32Array(2);
    fmt.setLeaf(w, 0, 0, 0x123456, 3);
    expect((BigInt(w[1]) << 32n) | BigInt(w[0])).toBe(0x123456007n);
    expect(fmt.decode(w[0], w[1], 0)).toMatchObject({ kind: 'leaf', addr: 0x123456000n, fields: { V: true, R: true, W: true } });
    expect(fmt.decode(w[0], w[1] | 0x00100000, 0).kind).toBe('invalid'); // bit 52: reserved
  });

  it('context entry: four qwords', () => {
    const q = encodeContext({ ...EMPTY_CONTEXT, valid: true, tt: TT_NESTED, s2Root: 0x1000, s1Valid: true, s1Bits: 22, s1Root: 0x1ff, did: 5, pasidDid: 7 });
    expect(q).toEqual([0x1000005n, 0x1ff02dn, 0n, 0x70005n]);
    expect(decodeContext(q)).toMatchObject({ valid: true, tt: TT_NESTED, s2Root: 0x1000, s1Root: 0x1ff, s1Bits: 22, did: 5, pasidDid: 7 });
    expect(decodeContext([0x1000005n | (1n << 60n), 0n, 0n, 0n])).toBeNull(); // reserved bit
  });

  it('invalidation command: type, id, PASID', () => {
    expect(invCommand(INV_IOTLB_DOMAIN, 5)).toBe(0x54n);
    expect(invCommand(INV_IOTLB_DOMAIN, 5, 3)).toBe(0x54n | (1n << 20n) | (3n << 21n));
  });
});

describe('hardware view', () => {
  function setup() {
    const m = createMachine({ vendor: 'flat-iommu', guestMemory: 4n << 20n, devices: [{ name: 'nic' }] });
    const fd = m.openIoasidFd();
    const nic = m.device('nic');
    nic.bindIoasidFd(fd, { label: 'nic' });
    const ioasid = fd.alloc({ protocol: 'map' });
    nic.attachIoasid(ioasid);
    const va = m.vmm.mmap(0x2000n);
    fd.mapDma({ ioasid, iova: 0x10000n, vaddr: va, size: 0x2000n });
    return { m, fd, nic, ioasid, va };
  }

  it('GET_INFO agrees with the CAP register', () => {
    const { m, nic } = setup();
    const cap = decodeCap(m.iommu.registers().CAP);
    const info = nic.getInfo();
    expect(cap).toMatchObject({ s2Bits: 32, s1MaxBits: 22, pasidBits: 8 });
    expect(info.pasidBits).toBe(cap.pasidBits);
    expect(info.formats).toEqual([{ kind: 'flat-v1', inputBits: cap.s1MaxBits }]);
    expect(info.permittedRanges.at(-1)!.last).toBe((1n << BigInt(cap.s2Bits)) - 1n);
  });

  it('the context entry and the flat table decode from raw memory alone', () => {
    const { m, nic, va } = setup();
    const base = m.iommu.registers().CTX_BASE & ~0xfffn;
    const ctx = decodeContext(bytesToQwords(m.hostMemory.read(base + BigInt(nic.rid * 32), 32)))!;
    expect(ctx).toMatchObject({ valid: true, tt: TT_S2 });
    const pte = bytesToQwords(m.hostMemory.read(BigInt(ctx.s2Root) * 4096n + 0x11n * 8n, 8))[0];
    const region = m.vmm.region(va, 0x2000n);
    expect(pte).toBe(encodeFlatEntry(BigInt(region.frameOf(1)) * 4096n, true, true));
  });

  it('the IOTLB is real: a raw table change is seen only after an INV_CMD write', () => {
    const { m, nic, va } = setup();
    m.vmm.write(va, new Uint8Array([1]));
    m.vmm.write(va + 0x1000n, new Uint8Array([2]));
    expect([...nic.dmaRead(0x10000n, 1)]).toEqual([1]);
    // Point IOVA page 0x10 at the second page behind the driver's back.
    const base = m.iommu.registers().CTX_BASE & ~0xfffn;
    const ctx = decodeContext(bytesToQwords(m.hostMemory.read(base + BigInt(nic.rid * 32), 32)))!;
    const second = m.hostMemory.read(BigInt(ctx.s2Root) * 4096n + 0x11n * 8n, 8);
    m.hostMemory.write(ctx.s2Root * 4096 + 0x10 * 8, second);
    expect([...nic.dmaRead(0x10000n, 1)]).toEqual([1]); // cached
    const regsBefore = m.iommu.registers();
    expect(m.iommu.registers()).toEqual(regsBefore); // reading registers clears nothing
    expect([...nic.dmaRead(0x10000n, 1)]).toEqual([1]);
    (m.driver as unknown as { hw: { write(r: string, v: bigint): void } }).hw.write('INV_CMD', invCommand(INV_IOTLB_DOMAIN, ctx.did));
    expect([...nic.dmaRead(0x10000n, 1)]).toEqual([2]);
  });

  it('faults carry the flat reason codes', () => {
    const { nic } = setup();
    const f = (() => {
      try {
        nic.dmaRead(0x40000n, 1);
      } catch (e) {
        return e;
      }
    })() as DmaFault;
    expect(f).toBeInstanceOf(DmaFault);
    expect(f.record).toMatchObject({ rid: nic.rid, iova: 0x40000n, code: FAULT.S2_NOT_PRESENT, name: 'S2_NOT_PRESENT', stage: 2 });
  });
});
