/**
 * SET_DIRTY_TRACKING / GET_DIRTY_BITMAP with iommufd's semantics, on the mock IOMMU (whose unit
 * sets a leaf's dirty bit in memory on a write when the device-table slot says so). The cases
 * follow iommufd's selftest fixture iommufd_dirty_tracking: enforce_dirty, set_dirty_tracking,
 * get_dirty_bitmap, get_dirty_bitmap_no_clear (tools/testing/selftests/iommu/iommufd.c).
 */
import { describe, expect, it } from 'vitest';
import { IOASID_GET_DIRTY_BITMAP, IOASID_SET_DIRTY_TRACKING, dirtyBits } from '../src/index.js';
import { MOCK_DIRTY } from './mock-format.js';
import { expectErrno, MiB, mockMachine } from './helpers.js';

const PAGE = 4096n;

function tracked(devices = [{ name: 'dev0' }, { name: 'dev1' }, { name: 'nodirty0' }]) {
  const { m, driver } = mockMachine({ devices });
  const fd = m.openIoasidFd();
  const dev = m.device('dev0');
  dev.bindIoasidFd(fd, { label: 'nic' });
  const ioasid = fd.alloc({ protocol: 'map' });
  dev.attachIoasid(ioasid);
  const base = 0x4000_0000n;
  const va = m.vmm.mmap(4n * MiB, { hugePages: '2M' });
  const va4k = m.vmm.mmap(64n * PAGE);
  fd.mapDma({ ioasid, iova: base, vaddr: va, size: 2n * MiB }); // one 2 MiB leaf
  fd.mapDma({ ioasid, iova: base + 2n * MiB, vaddr: va4k, size: 64n * PAGE }); // 64 leaves of 4 KiB
  return { m, driver, fd, dev, ioasid, base };
}

/** Bit numbers set in an iommufd-style bitmap (bit i = byte i >> 3, bit i & 7). */
function setBits(b: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < b.length * 8; i++) if (b[i >> 3] & (1 << (i & 7))) out.push(i);
  return out;
}

describe('dirty tracking (iommufd_dirty_tracking)', () => {
  it('GET_INFO and CHECK_EXTENSION say which devices can track', () => {
    const { m, fd, ioasid } = tracked();
    expect(m.device('dev0').getInfo().dirtyTracking).toBe(true);
    expect(m.device('nodirty0').getInfo().dirtyTracking).toBe(false);
    expect(fd.getInfo(ioasid).dirtyTracking).toBe(true);
    expect(fd.checkExtension('dirty-tracking')).toBe(1);
  });

  it('set_dirty_tracking: on and off; a write is logged only while on, a read never; enabling starts from a clean log', () => {
    const { m, fd, dev, ioasid, base } = tracked();
    const get = (noClear = false) => setBits(fd.getDirtyBitmap({ ioasid, iova: base, size: 4n * MiB, pageSize: PAGE, noClear }));
    // No bitmap while the IOMMU is not logging (Intel's and AMD's read_and_clear_dirty say EINVAL).
    expectErrno(() => get(), 'EINVAL', /dirty tracking is off for IOASID 1/);
    // A dirty bit left in memory from before is cleared by enabling (iommufd's iopt_clear_dirty_data).
    const leaf = fd.lookup(ioasid, base + 2n * MiB + 7n * PAGE).steps.at(-1)!;
    m.hostMemory.write(Number(leaf.entryAddr), new Uint8Array([Number(m.hostMemory.u64(Number(leaf.entryAddr)) & 0xffn) | MOCK_DIRTY]));
    fd.setDirtyTracking({ ioasid, enable: true });
    expect(get()).toEqual([]);
    dev.dmaRead(base + 2n * MiB + PAGE, 4);
    dev.dmaWrite(base + 2n * MiB + 3n * PAGE + 5n, new Uint8Array([1, 2]));
    expect(get()).toEqual([512 + 3]);
    fd.setDirtyTracking({ ioasid, enable: false });
    dev.dmaWrite(base + 2n * MiB + 4n * PAGE, new Uint8Array([1]));
    fd.setDirtyTracking({ ioasid, enable: true });
    expect(get()).toEqual([]);
  });

  it('get_dirty_bitmap: a huge leaf dirties every bit it covers; read-and-clear, then a new write sets it again', () => {
    const { fd, dev, ioasid, base } = tracked();
    fd.setDirtyTracking({ ioasid, enable: true });
    dev.dmaWrite(base + 0x1234n, new Uint8Array([7])); // inside the 2 MiB leaf
    const first = setBits(fd.getDirtyBitmap({ ioasid, iova: base, size: 4n * MiB, pageSize: PAGE }));
    expect(first).toEqual([...Array(512).keys()]);
    expect(setBits(fd.getDirtyBitmap({ ioasid, iova: base, size: 4n * MiB, pageSize: PAGE }))).toEqual([]);
    // The clear invalidated the IOTLB: the next write is logged again.
    dev.dmaWrite(base + 0x1234n, new Uint8Array([8]));
    expect(setBits(fd.getDirtyBitmap({ ioasid, iova: base, size: 2n * MiB, pageSize: 2n * MiB }))).toEqual([0]);
  });

  it('get_dirty_bitmap_no_clear keeps the bits; the dirty state is in the leaf in memory', () => {
    const { m, fd, dev, ioasid, base } = tracked();
    fd.setDirtyTracking({ ioasid, enable: true });
    dev.dmaWrite(base + 2n * MiB + 9n * PAGE, new Uint8Array([1]));
    const leaf = fd.lookup(ioasid, base + 2n * MiB + 9n * PAGE).steps.at(-1)!;
    expect(Number(m.hostMemory.u64(Number(leaf.entryAddr)) & BigInt(MOCK_DIRTY))).toBe(MOCK_DIRTY);
    for (let k = 0; k < 2; k++) expect(setBits(fd.getDirtyBitmap({ ioasid, iova: base + 2n * MiB, size: 64n * PAGE, pageSize: PAGE, noClear: true }))).toEqual([9]);
    expect(setBits(fd.getDirtyBitmap({ ioasid, iova: base + 2n * MiB, size: 64n * PAGE, pageSize: PAGE }))).toEqual([9]);
    expect(Number(m.hostMemory.u64(Number(leaf.entryAddr)) & BigInt(MOCK_DIRTY))).toBe(0);
  });

  it('bitmaps at unaligned offsets and larger page sizes: bit 0 is always the page at iova; a range not mapped reads clean', () => {
    const { fd, dev, ioasid, base } = tracked();
    fd.setDirtyTracking({ ioasid, enable: true });
    for (const p of [1n, 17n, 63n]) dev.dmaWrite(base + 2n * MiB + p * PAGE, new Uint8Array([1]));
    // From page 17 on: 17 is bit 0, 63 is bit 46.
    expect(setBits(fd.getDirtyBitmap({ ioasid, iova: base + 2n * MiB + 17n * PAGE, size: 47n * PAGE, pageSize: PAGE, noClear: true }))).toEqual([0, 46]);
    // At 16 KiB granularity: pages 1, 17, 63 are in 16 KiB blocks 0, 4 and 15.
    const b = fd.getDirtyBitmap({ ioasid, iova: base + 2n * MiB, size: 64n * PAGE, pageSize: 4n * PAGE, noClear: true });
    expect(b.length).toBe(8); // one __u64 word
    expect(setBits(b)).toEqual([0, 4, 15]);
    expect(setBits(fd.getDirtyBitmap({ ioasid, iova: 0x8000_0000n, size: 2n * MiB, pageSize: PAGE }))).toEqual([]);
  });

  it('enforce_dirty: a device that cannot track is refused by a tracking IOASID, and blocks enabling', () => {
    const { m, fd, ioasid } = tracked();
    const weak = m.device('nodirty0');
    weak.bindIoasidFd(fd, { label: 'weak' });
    fd.setDirtyTracking({ ioasid, enable: true });
    expectErrno(() => weak.attachIoasid(ioasid), 'EINVAL', /IOASID 1 tracks dirty pages and device nodirty0 cannot/);
    fd.setDirtyTracking({ ioasid, enable: false });
    weak.attachIoasid(ioasid);
    expect(fd.getInfo(ioasid).dirtyTracking).toBe(false);
    expectErrno(() => fd.setDirtyTracking({ ioasid, enable: true }), 'EINVAL', /device nodirty0 attached to IOASID 1 cannot track dirty pages/);
  });

  it('every refusal has its errno and names the argument, in the order of checks', () => {
    const { fd, ioasid, base } = tracked();
    fd.setDirtyTracking({ ioasid, enable: true });
    const get = (a: Record<string, unknown>) => () => fd.getDirtyBitmap({ ioasid, iova: base, size: 2n * MiB, pageSize: PAGE, ...a } as never);
    expectErrno(() => fd.setDirtyTracking({ ioasid: 99, enable: true }), 'ENOENT');
    expectErrno(() => fd.setDirtyTracking({ ioasid } as never), 'EINVAL', /enable is required/);
    expectErrno(() => fd.setDirtyTracking({ ioasid, enable: 1 } as never), 'EINVAL', /enable/);
    expectErrno(() => fd.setDirtyTracking({ ioasid, enable: true, extra: 1 } as never), 'EINVAL', /extra/);
    expectErrno(get({ pageSize: 3n * PAGE }), 'EINVAL', /pageSize 0x3000 is not a power of two/);
    expectErrno(get({ pageSize: 2048n }), 'EINVAL', /pageSize 0x800 is below the smallest page size 0x1000/);
    expectErrno(get({ iova: base + PAGE, pageSize: 2n * PAGE }), 'EINVAL', /iova 0x40001000 is not aligned to pageSize 0x2000/);
    expectErrno(get({ size: 3n * PAGE, pageSize: 2n * PAGE }), 'EINVAL', /size 0x3000 is not a multiple of pageSize 0x2000/);
    expectErrno(get({ size: 0n }), 'EINVAL', /size must not be zero/);
    expectErrno(get({ iova: (1n << 64n) - PAGE, size: 2n * PAGE }), 'EOVERFLOW');
    expectErrno(get({ noClear: 'yes' }), 'EINVAL', /noClear/);
    expectErrno(get({ size: 1n << 44n }), 'EINVAL', /more than one bitmap holds/);
    const child = fd.createNesting({ parent: ioasid, protocol: 'map' });
    expectErrno(() => fd.setDirtyTracking({ ioasid: child, enable: true }), 'EOPNOTSUPP', /software-nested child/);
  });

  it('the ioctls take the same arguments', () => {
    const { fd, dev, ioasid, base } = tracked();
    fd.ioctl(IOASID_SET_DIRTY_TRACKING, { ioasid, enable: true });
    dev.dmaWrite(base + 2n * MiB, new Uint8Array([1]));
    const b = fd.ioctl(IOASID_GET_DIRTY_BITMAP, { ioasid, iova: base + 2n * MiB, size: 64n * PAGE, pageSize: PAGE }) as Uint8Array;
    expect(setBits(b)).toEqual([0]);
  });

  it('dirtyBits reads a bitmap as iommufd lays it out: bit i is byte i >> 3, bit i & 7', () => {
    const b = new Uint8Array(16);
    for (const i of [0, 7, 8, 63, 64, 127]) b[i >> 3] |= 1 << (i & 7);
    expect(dirtyBits(b)).toEqual([0, 7, 8, 63, 64, 127]);
    expect(dirtyBits(b)).toEqual(setBits(b));
    expect(dirtyBits(new Uint8Array(8))).toEqual([]);
  });
});

