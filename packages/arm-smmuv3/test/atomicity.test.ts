import { describe, expect, it } from 'vitest';
import { S2Domain, type SmmuV3Driver } from '../src/index.js';
import { everyAllocationFailure } from '../../../test/support/atomicity.js';
import { gpaSpace, guestData, MiB, open, pattern, smmuMachine } from './machine-helpers.js';

const S1 = { kind: 'arm-lpae-s1', granule: 4096, ias: 48 };

/** Runs `op` with the n-th allocation failing, for n = 1, 2, … until it succeeds; checks nothing leaked each time. */
function everyFailure(m: ReturnType<typeof smmuMachine>['m'], op: () => void, probe: () => unknown): number {
  return everyAllocationFailure(m, op, { state: () => ({ frames: m.hostMemory.framesInUse, probe: probe() }), limit: 200 });
}

describe('every command is atomic under allocation failure', () => {
  it('MAP_DMA of scattered pages that needs new stage 2 tables', () => {
    const { m } = smmuMachine();
    const { fd, devs } = open(m, 'dev0');
    const ioasid = fd.alloc({ protocol: 'map' });
    devs[0].attachIoasid(ioasid);
    const va = m.vmm.mmap(2n * MiB);
    const tries = everyFailure(m, () => fd.mapDma({ ioasid, iova: 0x40_0000_0000n, vaddr: va, size: 2n * MiB, read: true, write: true }), () => fd.dumpPgtable(ioasid).root);
    expect(tries).toBeGreaterThan(1);
    devs[0].dmaWrite(0x40_0000_0000n, pattern(1, 8));
    expect(m.vmm.read(va, 8)).toEqual(pattern(1, 8));
  });

  it('BIND_PASID_TABLE allocates nothing: the guest owns the CD table, so the kernel writes only the STE', () => {
    const { m, drv } = smmuMachine();
    const { fd, devs } = open(m, 'dev0');
    const parent = gpaSpace(m, fd, devs);
    const child = fd.createNesting({ parent, protocol: 'user-pasid-table' });
    devs[0].attachIoasid(child);
    const t = m.guest.createPageTable(m.driver.guest!.pageTableFormat(S1));
    const a = guestData(m, 4096n, 3);
    t.map(0x1000n, a.gpa, 4096n);
    const format = { kind: 'arm-smmuv3-cd', layout: 'two-level', s1cdmax: 10 };
    const table = m.driver.guest!.buildPasidTable!(m.guest, format, [{ pasid: 9, root: t.root, pgtable: S1 }]);
    const ste = () => drv.strtab.readSte(devs[0].rid).join(',');
    const tries = everyFailure(m, () => fd.bindPasidTable({ ioasid: child, addr: table, format }), () => [fd.dumpPgtable(parent).root, ste()]);
    expect(tries).toBe(1); // the first try succeeds: no allocation to fail
    expect(devs[0].dmaRead(0x1000n, 8, { pasid: 9 })).toEqual(a.bytes.subarray(0, 8));
  });

  it('ALLOC and CREATE_NESTING', () => {
    const { m } = smmuMachine();
    const { fd } = open(m, 'dev0');
    everyFailure(m, () => fd.alloc({ protocol: 'map' }), () => null);
    const parent = fd.alloc({ protocol: 'map' });
    everyFailure(m, () => fd.createNesting({ parent, protocol: 'user-pasid-table' }), () => null);
  });
});

describe('closing the fd releases everything', () => {
  it('frames, VMIDs and ASIDs return to where they were', () => {
    const { m, drv } = smmuMachine();
    const d = drv as SmmuV3Driver;
    const { fd, devs } = open(m, 'dev0', 'dev1');
    // Binding probed the devices: the leaf stream table of bus 0 now exists and stays.
    const frames0 = m.hostMemory.kernelFramesInUse;
    const parent = gpaSpace(m, fd, devs);
    const c1 = fd.createNesting({ parent, protocol: 'user-pasid-table' });
    devs[0].attachIoasid(c1);
    const t = m.guest.createPageTable(m.driver.guest!.pageTableFormat(S1));
    const format = { kind: 'arm-smmuv3-cd', layout: 'linear', s1cdmax: 4 };
    fd.bindPasidTable({ ioasid: c1, addr: m.driver.guest!.buildPasidTable!(m.guest, format, [{ pasid: 0, root: t.root, pgtable: S1 }]), format });
    const c2 = fd.createNesting({ parent, protocol: 'user-pasid-table' });
    const other = fd.alloc({ protocol: 'map' });
    const va = m.vmm.mmap(1n * MiB);
    fd.mapDma({ ioasid: other, iova: 0x1000_0000n, vaddr: va, size: 1n * MiB, read: true, write: true });
    // A kernel PASID: a CD table in host memory, and stage 1 copies (one ASID each) of `other` and
    // of the GPA space dev1 reaches through CD 0.
    devs[1].attachIoasid(other, { userPasid: 4 });
    expect(d.vmids.inUse).toBe(4);
    expect(d.asids.inUse).toBe(2);
    expect(m.hostMemory.kernelFramesInUse).toBeGreaterThan(frames0);
    void c2;
    fd.close();
    expect(d.vmids.inUse).toBe(0);
    expect(d.asids.inUse).toBe(0);
    expect(m.hostMemory.kernelFramesInUse).toBe(frames0);
  });
});

describe('5.3 software nesting runs on SMMUv3 stage 2 domains (core shadows into a map domain)', () => {
  it('gIOVA → GPA → host through a shadow stage 2 table', () => {
    const { m } = smmuMachine();
    const { fd, devs } = open(m, 'dev0');
    const parent = gpaSpace(m, fd, []);
    const child = fd.createNesting({ parent, protocol: 'map' });
    devs[0].attachIoasid(parent);
    devs[0].attachIoasid(child);
    const a = guestData(m, 4096n, 7);
    fd.mapDma({ ioasid: child, iova: 0x9000_0000n, vaddr: a.gpa, size: 4096n, read: true, write: true });
    expect(devs[0].dmaRead(0x9000_0000n, 16)).toEqual(a.bytes.subarray(0, 16));
    expect(fd.getInfo(child).nesting).toBe('software');
  });
});

describe('5.2 two kernel-managed IOASIDs over pre-registered memory', () => {
  it('each device reaches only its own IOASID; maps of registered memory are not charged again', () => {
    const { m, drv } = smmuMachine();
    const { fd, devs } = open(m, 'dev0', 'dev2');
    const buf = m.vmm.mmap(4n * MiB, { hugePages: '2M' });
    fd.registerMemory({ vaddr: buf, size: 4n * MiB });
    const [a, b] = [fd.alloc({ protocol: 'map' }), fd.alloc({ protocol: 'map' })];
    devs[0].attachIoasid(a);
    devs[1].attachIoasid(b);
    fd.mapDma({ ioasid: a, iova: 0x100_0000n, vaddr: buf, size: 2n * MiB, read: true, write: true });
    fd.mapDma({ ioasid: b, iova: 0x100_0000n, vaddr: buf + 2n * MiB, size: 2n * MiB, read: true, write: true });
    devs[0].dmaWrite(0x100_0010n, pattern(1, 8));
    devs[1].dmaWrite(0x100_0010n, pattern(2, 8));
    expect(m.vmm.read(buf + 0x10n, 8)).toEqual(pattern(1, 8));
    expect(m.vmm.read(buf + 2n * MiB + 0x10n, 8)).toEqual(pattern(2, 8));
    const va = (fd.ioasidObject(a).domain as S2Domain).vmid;
    const vb = (fd.ioasidObject(b).domain as S2Domain).vmid;
    expect(va).not.toBe(vb);
    expect(drv.unit.tlb.tagList().filter((t) => t.kind === 's2').map((t) => t.vmid).sort()).toEqual([va, vb].sort());
    fd.unmapDma({ ioasid: a, all: true });
    expect(() => devs[0].dmaRead(0x100_0010n, 8)).toThrow();
    expect(devs[1].dmaRead(0x100_0010n, 8)).toEqual(pattern(2, 8));
  });
});
