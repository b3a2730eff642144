/**
 * Guest-owned structures are untrusted (DESIGN §7): a guest PDT and guest first-stage tables full
 * of random bytes, loops and pointers outside memory give fault records only, never an exception
 * or a hang; LOOKUP, DUMP and the hardware's walk trace stay bounded. The walk trace has no side
 * effect and, with caches, shows the stale entry the DMA would use.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DmaFault, IoasidError, createMachine, type Machine } from '@ioasid/core';
import '../src/index.js';

function setup(): { m: Machine; fd: ReturnType<Machine['openIoasidFd']>; child: number; table: bigint } {
  const m = createMachine({ vendor: 'riscv-iommu', devices: [{ name: 'dev0' }], guestMemory: 16n << 20n });
  const fd = m.openIoasidFd();
  const dev = m.device('dev0');
  dev.bindIoasidFd(fd, { label: 'dev0' });
  const gpa = fd.alloc({ protocol: 'map' });
  dev.attachIoasid(gpa);
  fd.mapDma({ ioasid: gpa, iova: 0n, vaddr: m.guest.vaddr, size: m.guest.size, read: true, write: true });
  const child = fd.createNesting({ parent: gpa, protocol: 'user-pasid-table' });
  dev.attachIoasid(child);
  const table = m.guest.allocPages(4096n);
  fd.bindPasidTable({ ioasid: child, addr: table, format: { kind: 'riscv-pdt', mode: 'PD20' } });
  return { m, fd, child, table };
}

describe('hostile guest PDT and page tables', () => {
  it('random guest memory under the PDT root: only DmaFaults, bounded views (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { minLength: 64, maxLength: 64 }), fc.integer({ min: 0, max: 4095 }), (words, page) => {
        const { m, fd, child, table } = setup();
        // Fill the root and the next pages with junk, some of it pointing back at the root (loops).
        const b = new Uint8Array(512);
        const v = new DataView(b.buffer);
        words.forEach((w, i) => v.setBigUint64(8 * i, i % 7 === 0 ? ((table >> 12n) << 10n) | 1n : w, true));
        for (let k = 0n; k < 4n && table - k * 4096n >= 0n; k++) m.guest.write(table - k * 4096n, b);
        const dev = m.device('dev0');
        for (const pasid of [0, 1, 255, 0x1ffff, 0xfffff]) {
          for (const write of [false, true]) {
            try {
              if (write) dev.dmaWrite(BigInt(page) << 12n, new Uint8Array(1), { pasid });
              else dev.dmaRead(BigInt(page) << 12n, 1, { pasid });
            } catch (e) {
              if (!(e instanceof DmaFault)) throw e;
              dev.reset();
            }
          }
          const view = fd.lookup(child, BigInt(page) << 12n, { pasid });
          expect(view).toBeDefined();
          const t = dev.traceDma(BigInt(page) << 12n, { pasid });
          expect(t === undefined || t.events.length < 5000).toBe(true);
        }
        const d = fd.dumpPgtable(child);
        expect(d).toBeDefined();
      }),
      { numRuns: 20 },
    );
  });

  it('a bind outside the G-stage input or misaligned is EINVAL, and changes nothing', () => {
    const { fd, child } = setup();
    for (const addr of [0x1001n, 1n << 60n, -4096n]) {
      expect(() => fd.bindPasidTable({ ioasid: child, addr, format: { kind: 'riscv-pdt', mode: 'PD8' } })).toThrow(IoasidError);
    }
    expect(() => fd.bindPasidTable({ ioasid: child, addr: 0x1000n, format: { kind: 'riscv-pdt', mode: 'PD9' } })).toThrow(/EINVAL/);
  });
});

describe('the walk trace', () => {
  it('has no side effect; with caches it shows the stale IOTLB entry the DMA uses', () => {
    const m = createMachine({ vendor: 'riscv-iommu', devices: [{ name: 'dev0' }], guestMemory: 16n << 20n });
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd, { label: 'dev0' });
    const gpa = fd.alloc({ protocol: 'map' });
    dev.attachIoasid(gpa);
    const va = m.vmm.mmap(0x10000n);
    fd.mapDma({ ioasid: gpa, iova: 0x10000n, vaddr: va, size: 0x10000n, read: true, write: true });
    const regs = m.iommu.registers();
    const cold = dev.traceDma(0x10000n, { caches: true })!;
    expect(cold.events).toContainEqual({ cache: 'IOTLB', hit: false }); // nothing cached yet
    expect(cold.events.filter((e) => 'structure' in e).map((e) => (e as { structure: string }).structure)).toEqual([
      'non-leaf DDT entry', 'non-leaf DDT entry', 'device context', 'G-stage PTE', 'G-stage PTE', 'G-stage PTE', 'G-stage PTE', 'G-stage PTE',
    ]);
    expect(m.iommu.registers()).toEqual(regs);
    dev.dmaRead(0x10000n, 4); // fills the caches
    const warm = dev.traceDma(0x10000n, { caches: true })!;
    expect(warm.events).toContainEqual({ cache: 'IOTLB', hit: true });
    expect(warm.output).toBe(cold.output);
  });
});
