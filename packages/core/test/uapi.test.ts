import { describe, expect, it } from 'vitest';
import { DmaFault, IOASID_GET_DIRTY_BITMAP, IOASID_SET_DIRTY_TRACKING, IOASID_MAP_DMA, IOASID_ALLOC, IOASID_CHECK_EXTENSION, IOASID_INVALIDATE_CACHE, IOASID_UNBIND_PGTABLE, IOASID_TYPE, IOASID_BASE, createMachine } from '../src/index.js';
import { bytes, expectErrno, MiB, mockMachine } from './helpers.js';

function simple() {
  const { m, driver } = mockMachine();
  const fd = m.openIoasidFd();
  const dev = m.device('dev0');
  dev.bindIoasidFd(fd, { label: 'nic' });
  const ioasid = fd.alloc({ protocol: 'map' });
  dev.attachIoasid(ioasid);
  return { m, driver, fd, dev, ioasid };
}

describe('machine and memory', () => {
  it('gives devices PCI requester IDs in creation order and a guest RAM window', () => {
    const { m } = mockMachine();
    expect(m.device('dev0').rid).toBe(0x08);
    expect(m.device('dev1').rid).toBe(0x10);
    expect(m.guest.size).toBe(64n * MiB);
    m.guest.write(0x1000n, bytes(9, 8, 7));
    expect([...m.vmm.read(m.guest.vaddr + 0x1000n, 3)]).toEqual([9, 8, 7]);
    expectErrno(() => m.device('nope'), 'ENODEV');
    expectErrno(() => m.guest.read(64n * MiB, 1), 'EFAULT');
  });

  it('rejects bad device lists', () => {
    expectErrno(() => createMachine({ vendor: 'mock', devices: [{ name: 'a' }, { name: 'a' }] }), 'EEXIST');
    expectErrno(() => createMachine({ vendor: 'mock', devices: [{ name: 'm', kind: 'mdev', parent: 'x' }] }), 'EINVAL', /parent/);
    expectErrno(() => createMachine({ vendor: 'nonesuch' }), 'ENODEV', /not registered/);
  });

  it('backs huge-page mmaps contiguously and counts populated frames on touch', () => {
    const { m } = mockMachine();
    const before = m.hostMemory.framesInUse;
    const va = m.vmm.mmap(4n * MiB, { hugePages: '2M' });
    expect(va % (2n * MiB)).toBe(0n);
    expect(m.hostMemory.framesInUse).toBe(before);
    m.vmm.write(va + 5n, bytes(1));
    expect(m.hostMemory.framesInUse).toBe(before + 512);
    expectErrno(() => m.vmm.mmap(4096n, { hugePages: '2M' }), 'EINVAL');
  });
});

describe('flow 5.1: map, DMA, unmap', () => {
  it('moves real bytes by DMA and faults once unmapped', () => {
    const { m, fd, dev, ioasid } = simple();
    const va = m.vmm.mmap(64n * 1024n);
    fd.mapDma({ ioasid, iova: 0x100000n, vaddr: va, size: 64n * 1024n, read: true, write: true });
    dev.dmaWrite(0x100ffen, bytes(1, 2, 3, 4));
    expect([...m.vmm.read(va + 0xffen, 4)]).toEqual([1, 2, 3, 4]);
    m.vmm.write(va + 0x2000n, bytes(42));
    expect([...dev.dmaRead(0x102000n, 1)]).toEqual([42]);
    expect(fd.unmapDma({ ioasid, iova: 0x100000n, size: 64n * 1024n })).toBe(64n * 1024n);
    expect(() => dev.dmaRead(0x102000n, 1)).toThrow(DmaFault);
    expect(fd.unmapDma({ ioasid, iova: 0x100000n, size: 64n * 1024n })).toBe(0n);
  });

  it('enforces read-only maps in the hardware model', () => {
    const { m, fd, dev, ioasid } = simple();
    const va = m.vmm.mmap(4096n);
    fd.mapDma({ ioasid, iova: 0n, vaddr: va, size: 4096n, read: true, write: false });
    try {
      dev.dmaWrite(0n, bytes(1));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DmaFault);
      expect((e as DmaFault).record).toMatchObject({ rid: 0x08, iova: 0n, write: true, name: 'PERMISSION' });
    }
    expect(fd.readFaults(ioasid)).toMatchObject([{ label: 'nic', device: 'dev0', kind: 'unrecoverable', write: true }]);
  });

  it('uses 2 MiB leaves for huge-page backed memory', () => {
    const { m, fd, ioasid } = simple();
    const va = m.vmm.mmap(4n * MiB, { hugePages: '2M' });
    fd.mapDma({ ioasid, iova: 2n * MiB, vaddr: va, size: 4n * MiB });
    expect(fd.lookup(ioasid, 2n * MiB + 0x1234n).steps.at(-1)!.level).toBe(1);
  });
});

describe('MAP_DMA / UNMAP_DMA rules (VFIO type1v2)', () => {
  it('checks the IOASID first, then the protocol, then arguments', () => {
    const { m, fd, ioasid } = simple();
    const va = m.vmm.mmap(MiB);
    expectErrno(() => fd.mapDma({ ioasid: 99, iova: 1n, vaddr: va, size: 3n }), 'ENOENT');
    expectErrno(() => fd.mapDma({ ioasid, iova: 1n, vaddr: va, size: 4096n }), 'EINVAL', /iova 0x1 is not aligned/);
    expectErrno(() => fd.mapDma({ ioasid, iova: 0n, vaddr: va + 1n, size: 4096n }), 'EINVAL', /vaddr/);
    expectErrno(() => fd.mapDma({ ioasid, iova: 0n, vaddr: va, size: 0n }), 'EINVAL', /size/);
    expectErrno(() => fd.mapDma({ ioasid, iova: -4096n, vaddr: va, size: 4096n }), 'EINVAL', /negative/);
    expectErrno(() => fd.mapDma({ ioasid, iova: 1n << 64n, vaddr: va, size: 4096n }), 'EOVERFLOW');
    expectErrno(() => fd.mapDma({ ioasid, iova: 0n, vaddr: va, size: 4096n, read: false, write: false }), 'EINVAL', /read or write/);
    expectErrno(() => fd.mapDma({ ioasid, iova: 1n << 39n, vaddr: va, size: 4096n }), 'EINVAL', /permitted range/);
    expectErrno(() => fd.mapDma({ ioasid, iova: 0n, vaddr: 0x1000n, size: 4096n }), 'EFAULT', /not mapped/);
    expectErrno(() => fd.mapDma({ ioasid, iova: 0n, vaddr: va, size: 2n * MiB }), 'EFAULT', /runs past/);
  });

  it('refuses overlaps, refuses cutting a map, and unmaps several whole maps at once', () => {
    const { m, fd, ioasid } = simple();
    const va = m.vmm.mmap(MiB);
    fd.mapDma({ ioasid, iova: 0x10000n, vaddr: va, size: 0x2000n });
    fd.mapDma({ ioasid, iova: 0x12000n, vaddr: va + 0x2000n, size: 0x2000n });
    expectErrno(() => fd.mapDma({ ioasid, iova: 0x11000n, vaddr: va, size: 0x4000n }), 'EEXIST');
    expectErrno(() => fd.unmapDma({ ioasid, iova: 0x10000n, size: 0x1000n }), 'EINVAL', /cut/);
    expect(fd.unmapDma({ ioasid, iova: 0x0n, size: 0x100000n })).toBe(0x4000n);
    fd.mapDma({ ioasid, iova: 0x10000n, vaddr: va, size: 0x2000n });
    fd.mapDma({ ioasid, iova: 0x80000n, vaddr: va + 0x2000n, size: 0x2000n });
    expect(fd.unmapDma({ ioasid, all: true })).toBe(0x4000n);
    expectErrno(() => fd.unmapDma({ ioasid, iova: 3n, size: 4096n }), 'EINVAL');
  });

  it('GET_INFO intersects device capabilities with the address space', () => {
    const { fd, ioasid } = simple();
    const info = fd.getInfo(ioasid);
    expect(info.pageSizes).toEqual([4096n, 2n * MiB]);
    expect(info.permittedRanges).toEqual([
      { start: 0n, last: 0xfedfffffn },
      { start: 0xfef00000n, last: (1n << 39n) - 1n },
    ]);
    const lone = fd.alloc({ protocol: 'map' });
    expect(fd.getInfo(lone)).toMatchObject({ protocols: ['map'], pageSizes: [], permittedRanges: [] });
  });
});

describe('memory registration and accounting', () => {
  it('charges once for registered memory and refuses unregistering mapped ranges', () => {
    const { m, fd, ioasid } = simple();
    const va = m.vmm.mmap(MiB);
    fd.registerMemory({ vaddr: va, size: MiB });
    expect(fd.accounting.lockedPages).toBe(256);
    expectErrno(() => fd.registerMemory({ vaddr: va + 0x1000n, size: 0x1000n }), 'EEXIST');
    const second = fd.alloc({ protocol: 'map' });
    fd.mapDma({ ioasid, iova: 0n, vaddr: va, size: MiB });
    fd.mapDma({ ioasid: second, iova: 0n, vaddr: va, size: MiB });
    expect(fd.accounting.lockedPages).toBe(256);
    const other = m.vmm.mmap(0x1000n);
    expectErrno(() => fd.mapDma({ ioasid, iova: 2n * MiB, vaddr: other, size: 0x1000n }), 'EINVAL', /registered/);
    expectErrno(() => fd.unregisterMemory({ vaddr: va, size: MiB }), 'EBUSY');
    expectErrno(() => fd.unregisterMemory({ vaddr: va, size: 0x1000n }), 'ENOENT');
    fd.unmapDma({ ioasid, all: true });
    fd.unmapDma({ ioasid: second, all: true });
    fd.unregisterMemory({ vaddr: va, size: MiB });
    expect(fd.accounting.lockedPages).toBe(0);
  });

  it('charges each unregistered map and enforces the memlock limit', () => {
    const { m } = mockMachine({ memlockLimit: 0x3000n });
    const fd = m.openIoasidFd();
    const ioasid = fd.alloc({ protocol: 'map' });
    const va = m.vmm.mmap(0x4000n);
    fd.mapDma({ ioasid, iova: 0n, vaddr: va, size: 0x2000n });
    expect(fd.accounting.lockedPages).toBe(2);
    expectErrno(() => fd.mapDma({ ioasid, iova: 0x10000n, vaddr: va + 0x2000n, size: 0x2000n }), 'ENOMEM', /memlock/);
    expectErrno(() => m.vmm.munmap(va, 0x4000n), 'EBUSY');
  });
});

describe('ALLOC / FREE / devices', () => {
  it('fixes the format at creation and rejects the other protocol', () => {
    const { fd, ioasid } = simple();
    expectErrno(() => fd.alloc({ protocol: 'bogus' as never }), 'EINVAL', /protocol/);
    expectErrno(() => fd.alloc({ protocol: 'user-pgtable' }), 'EINVAL', /CREATE_NESTING/);
    expectErrno(() => fd.bindPgtable({ ioasid, addr: 0n, format: { kind: 'x' } }), 'EOPNOTSUPP');
    expectErrno(() => fd.bindPasidTable({ ioasid, addr: 0n, format: { kind: 'x' } }), 'EOPNOTSUPP');
    expectErrno(() => fd.createNesting({ parent: ioasid, protocol: 'user-pgtable' }), 'EOPNOTSUPP', /mock/);
  });

  it('refuses FREE while attached or with children', () => {
    const { fd, dev, ioasid } = simple();
    expectErrno(() => fd.free(ioasid), 'EBUSY', /attached/);
    dev.detachIoasid(ioasid);
    const child = fd.createNesting({ parent: ioasid, protocol: 'map' });
    expectErrno(() => fd.free(ioasid), 'EBUSY', /children/);
    fd.free(child);
    fd.free(ioasid);
    expectErrno(() => fd.free(ioasid), 'ENOENT');
  });

  it('binds a device once and detaches only what is attached', () => {
    const { m, fd, dev, ioasid } = simple();
    expectErrno(() => dev.bindIoasidFd(fd, { label: 'again' }), 'EBUSY');
    expectErrno(() => m.device('dev1').bindIoasidFd(fd, { label: 'nic' }), 'EEXIST', /label/);
    expectErrno(() => dev.attachIoasid(ioasid), 'EBUSY');
    expectErrno(() => dev.detachIoasid(ioasid, { userPasid: 3 }), 'EINVAL');
    expectErrno(() => dev.unbindIoasidFd(), 'EBUSY');
    expectErrno(() => m.device('dev1').attachIoasid(ioasid), 'EINVAL', /not bound/);
  });

  it('rejects a device the IOASID cannot hold with EINVAL', () => {
    const { m } = mockMachine({ devices: [{ name: 'dev0' }, { name: 'alien0' }] });
    const fd = m.openIoasidFd();
    m.device('alien0').bindIoasidFd(fd);
    const ioasid = fd.alloc({ protocol: 'map' });
    expectErrno(() => m.device('alien0').attachIoasid(ioasid), 'EINVAL', /another IOMMU/);
  });

  it('refuses commands while an IOMMU group is partly attached', () => {
    const { m } = mockMachine({ devices: [{ name: 'a', group: 7 }, { name: 'b', group: 7 }] });
    const fd = m.openIoasidFd();
    m.device('a').bindIoasidFd(fd);
    m.device('b').bindIoasidFd(fd);
    const ioasid = fd.alloc({ protocol: 'map' });
    const va = m.vmm.mmap(0x1000n);
    m.device('a').attachIoasid(ioasid);
    expectErrno(() => fd.mapDma({ ioasid, iova: 0n, vaddr: va, size: 0x1000n }), 'EPERM', /group 7.*attach b/);
    m.device('b').attachIoasid(ioasid);
    fd.mapDma({ ioasid, iova: 0n, vaddr: va, size: 0x1000n });
  });

  it('checks userPasid against the device PASID width', () => {
    const { fd, dev, ioasid } = simple();
    expectErrno(() => dev.attachIoasid(ioasid, { userPasid: -1 }), 'EINVAL');
    expectErrno(() => dev.attachIoasid(ioasid, { userPasid: 1 << 20 }), 'EINVAL');
    const other = fd.alloc({ protocol: 'map' });
    dev.attachIoasid(other, { userPasid: 5 });
    expectErrno(() => dev.attachIoasid(other, { userPasid: 5 }), 'EBUSY');
  });
});

describe('ioctl dispatcher', () => {
  it('uses the proposal numbers', () => {
    expect(IOASID_TYPE).toBe(0x3b);
    expect(IOASID_CHECK_EXTENSION).toBe((0x3b << 8) | (IOASID_BASE + 0));
    expect(IOASID_MAP_DMA).toBe((0x3b << 8) | (IOASID_BASE + 6));
    expect(IOASID_INVALIDATE_CACHE).toBe((0x3b << 8) | (IOASID_BASE + 13));
    const { m } = mockMachine();
    const fd = m.openIoasidFd();
    expect(fd.ioctl(IOASID_CHECK_EXTENSION, 'pre-registration')).toBe(1);
    // The mock's devices can track dirty pages (GET_INFO says so), so the extension is there.
    expect(fd.ioctl(IOASID_CHECK_EXTENSION, 'dirty-tracking')).toBe(1);
    expect(IOASID_SET_DIRTY_TRACKING).toBe((0x3b << 8) | (IOASID_BASE + 18));
    expect(IOASID_GET_DIRTY_BITMAP).toBe((0x3b << 8) | (IOASID_BASE + 19));
    const id = fd.ioctl(IOASID_ALLOC, { protocol: 'map' });
    expect(id).toBe(1);
    expectErrno(() => fd.ioctl(IOASID_UNBIND_PGTABLE, { ioasid: id }), 'EOPNOTSUPP', /withdrawn/);
    expectErrno(() => fd.ioctl(0x1234, {}), 'EINVAL', /unknown ioctl/);
  });
});

describe('close', () => {
  it('returns every frame, pin and PASID', () => {
    // The mdev rides on 'q', which stays with the host driver (an mdev's parent is never bound with it).
    const { m } = mockMachine({ devices: [{ name: 'p' }, { name: 'q' }, { name: 'md', kind: 'mdev', parent: 'q' }] });
    const va = m.vmm.mmap(MiB);
    m.vmm.write(va, bytes(1));
    const frames = m.hostMemory.framesInUse;
    const fd = m.openIoasidFd();
    m.device('p').bindIoasidFd(fd);
    m.device('md').bindIoasidFd(fd);
    const a = fd.alloc({ protocol: 'map' });
    m.device('p').attachIoasid(a);
    m.device('md').attachIoasid(a);
    expect(m.pasids.inUse).toBe(1);
    fd.mapDma({ ioasid: a, iova: 0n, vaddr: va, size: MiB });
    const child = fd.createNesting({ parent: a, protocol: 'map' });
    m.device('p').attachIoasid(child);
    fd.mapDma({ ioasid: child, iova: 0x40000000n, vaddr: 0n, size: 0x10000n });
    fd.close();
    expect(m.pasids.inUse).toBe(0);
    expect(fd.accounting.lockedPages).toBe(0);
    expect(m.hostMemory.framesInUse).toBe(frames + 255);
    expect(m.device('p').fd).toBeUndefined();
    expectErrno(() => fd.alloc({ protocol: 'map' }), 'EBADF');
  });
});
