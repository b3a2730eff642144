/**
 * Dirty tracking through software nesting (iommufd has no software nesting; the rule is ours,
 * from the uAPI's meaning): a device attached to a software child DMAs through the shadow table,
 * so the hardware logs its writes in the shadow's leaves; GET_DIRTY_BITMAP on the parent reports
 * them at the parent (GPA) pages the child's maps point to, and clears them as it clears its own.
 */
import { describe, expect, it } from 'vitest';
import { createMachine, dirtyBits, IoasidError } from '@ioasid/core';
import '@ioasid/intel-vtd';
import '@ioasid/arm-smmuv3';
import '@ioasid/riscv-iommu';
import '@ioasid-example/flat-iommu';

const PAGE = 4096n;
const GPA = 0x100000n; // parent IOVA (GPA) of the child's target pages
const GIOVA = 0x4000000n; // child IOVA

function setup(vendor: string) {
  const m = createMachine({ vendor, guestMemory: 16n << 20n, guestHugePages: false, devices: [{ name: 'dev0' }, { name: 'dev1' }] });
  const fd = m.openIoasidFd();
  const [d0, d1] = ['dev0', 'dev1'].map((n) => m.device(n));
  d0.bindIoasidFd(fd, { label: 'd0' });
  d1.bindIoasidFd(fd, { label: 'd1' });
  const parent = fd.alloc({ protocol: 'map' });
  d0.attachIoasid(parent);
  d1.attachIoasid(parent);
  // Guest RAM at IOVA = GPA in the parent, in 4 KiB pages (a huge leaf would dirty 512 bits at once).
  fd.mapDma({ ioasid: parent, iova: 0n, vaddr: m.guest.vaddr, size: m.guest.size });
  return { m, fd, d0, d1, parent };
}

/** The parent's dirty pages (4 KiB bits) over the first 4 MiB of GPA. */
function dirty(fd: ReturnType<typeof setup>['fd'], parent: number, noClear = false): number[] {
  return dirtyBits(fd.getDirtyBitmap({ ioasid: parent, iova: 0n, size: 4n << 20n, pageSize: PAGE, noClear }));
}

describe.each(['intel-vtd', 'arm-smmuv3', 'riscv-iommu', 'flat-iommu'])('%s: a write through a software child dirties the parent page it reaches', (vendor) => {
  it('child created before tracking starts, and after', () => {
    const { fd, d0, d1, parent } = setup(vendor);
    const before = fd.createNesting({ parent, protocol: 'map' });
    fd.mapDma({ ioasid: before, iova: GIOVA, vaddr: GPA, size: 4n * PAGE });
    d0.attachIoasid(before);
    // A write while nothing tracks is not in the log once tracking starts.
    d0.dmaWrite(GIOVA, new Uint8Array([1]));
    fd.setDirtyTracking({ ioasid: parent, enable: true });
    expect(dirty(fd, parent)).toEqual([]);

    d0.dmaWrite(GIOVA + 2n * PAGE + 8n, new Uint8Array([2]));
    d1.dmaWrite(GPA + 3n * PAGE, new Uint8Array([3])); // dev1 writes the parent directly
    const gpaPage = Number(GPA / PAGE);
    expect(dirty(fd, parent, true)).toEqual([gpaPage + 2, gpaPage + 3]);
    expect(dirty(fd, parent)).toEqual([gpaPage + 2, gpaPage + 3]);
    // Read-and-clear cleared the shadow too: nothing until the next write, which is logged again.
    expect(dirty(fd, parent)).toEqual([]);
    d0.dmaWrite(GIOVA + 2n * PAGE, new Uint8Array([4]));
    expect(dirty(fd, parent)).toEqual([gpaPage + 2]);
    // Reads dirty nothing.
    d0.dmaRead(GIOVA + PAGE, 8);
    expect(dirty(fd, parent)).toEqual([]);

    // A child made while the parent tracks logs from its first write.
    d1.detachIoasid(parent);
    d1.attachIoasid(parent);
    const after = fd.createNesting({ parent, protocol: 'map' });
    fd.mapDma({ ioasid: after, iova: GIOVA, vaddr: GPA + 0x10000n, size: PAGE });
    d1.attachIoasid(after);
    d1.dmaWrite(GIOVA, new Uint8Array([5]));
    expect(dirty(fd, parent)).toEqual([gpaPage + 16]);
  });

  it('only the range asked is reported and cleared; the child itself takes no dirty commands', () => {
    const { fd, d0, parent } = setup(vendor);
    const child = fd.createNesting({ parent, protocol: 'map' });
    fd.mapDma({ ioasid: child, iova: GIOVA, vaddr: GPA, size: 2n * PAGE });
    d0.attachIoasid(child);
    fd.setDirtyTracking({ ioasid: parent, enable: true });
    d0.dmaWrite(GIOVA, new Uint8Array([1]));
    d0.dmaWrite(GIOVA + PAGE, new Uint8Array([1]));
    // Only the second page: bit 0 of a one-page bitmap; the first page stays dirty.
    expect(dirtyBits(fd.getDirtyBitmap({ ioasid: parent, iova: GPA + PAGE, size: PAGE, pageSize: PAGE }))).toEqual([0]);
    expect(dirty(fd, parent)).toEqual([Number(GPA / PAGE)]);
    for (const call of [() => fd.getDirtyBitmap({ ioasid: child, iova: GIOVA, size: PAGE, pageSize: PAGE }), () => fd.setDirtyTracking({ ioasid: child, enable: false })]) {
      expect(call).toThrow(IoasidError);
      expect(call).toThrow(/EOPNOTSUPP: .*software-nested child; track the parent/);
    }
    // Turning tracking off on the parent stops the shadow logging too.
    fd.setDirtyTracking({ ioasid: parent, enable: false });
    d0.dmaWrite(GIOVA, new Uint8Array([1]));
    fd.setDirtyTracking({ ioasid: parent, enable: true });
    expect(dirty(fd, parent)).toEqual([]);
  });
});
