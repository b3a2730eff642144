import { describe, expect, it } from 'vitest';
import { DmaFault, type IoasidFd, type Machine } from '../src/index.js';
import { bytes, expectErrno, mockMachine } from './helpers.js';

/** Issue 15, finding 1 and 2: the topology rules of DESIGN §2 (IOMMU groups, mdev parents), on the mock vendor. */

function group() {
  const { m } = mockMachine({ devices: [{ name: 'a', group: 7 }, { name: 'b', group: 7 }, { name: 'c' }] });
  return { m, a: m.device('a'), b: m.device('b'), c: m.device('c') };
}

/** What must not move when a command is refused. */
function state(m: Machine, fd: IoasidFd) {
  return { frames: m.hostMemory.framesInUse, pasids: m.pasids.inUse, fd: fd.describe() };
}

function buffer(m: Machine, fd: IoasidFd, ioasid: number, iova: bigint, fill: number): bigint {
  const va = m.vmm.mmap(0x1000n);
  m.vmm.write(va, bytes(fill, fill, fill, fill));
  fd.mapDma({ ioasid, iova, vaddr: va, size: 0x1000n });
  return va;
}

describe('IOMMU group: every device of a group binds to the same fd', () => {
  it('a sibling bound to another fd is refused with EBUSY, in either order, until the group has left that fd', () => {
    const { m, a, b, c } = group();
    const fd1 = m.openIoasidFd();
    const fd2 = m.openIoasidFd();
    a.bindIoasidFd(fd1);
    expectErrno(() => b.bindIoasidFd(fd2), 'EBUSY', /group 7 with a.*same fd/);
    expect(b.fd).toBeUndefined();
    c.bindIoasidFd(fd2); // another group: free to go elsewhere
    b.bindIoasidFd(fd1); // the same fd: fine
    b.unbindIoasidFd();
    expectErrno(() => b.bindIoasidFd(fd2), 'EBUSY', /group 7/);
    a.unbindIoasidFd();
    b.bindIoasidFd(fd2); // the group has left fd1
    expectErrno(() => a.bindIoasidFd(fd1), 'EBUSY', /group 7 with b/);
    a.bindIoasidFd(fd2);
  });

  it('close releases the group: its members may then bind to another fd together', () => {
    const { m, a, b } = group();
    const fd1 = m.openIoasidFd();
    a.bindIoasidFd(fd1);
    b.bindIoasidFd(fd1);
    const x = fd1.alloc({ protocol: 'map' });
    a.attachIoasid(x);
    b.attachIoasid(x);
    const fd2 = m.openIoasidFd();
    expectErrno(() => a.bindIoasidFd(fd2), 'EBUSY');
    fd1.close();
    a.bindIoasidFd(fd2);
    b.bindIoasidFd(fd2);
    const y = fd2.alloc({ protocol: 'map' });
    a.attachIoasid(y);
    b.attachIoasid(y);
    // Unbind one at a time: the group stays on fd2 while one member is bound there.
    a.detachIoasid(y);
    a.unbindIoasidFd();
    const fd3 = m.openIoasidFd();
    expectErrno(() => a.bindIoasidFd(fd3), 'EBUSY', /b, which is bound to another/);
    b.detachIoasid(y);
    b.unbindIoasidFd();
    a.bindIoasidFd(fd3);
  });
});

describe("IOMMU group: a group's RID traffic goes to one IOASID", () => {
  it('a sibling attaching its RID to another IOASID is refused with EINVAL and nothing changes', () => {
    const { m, a, b } = group();
    const fd = m.openIoasidFd();
    a.bindIoasidFd(fd);
    b.bindIoasidFd(fd);
    const x = fd.alloc({ protocol: 'map' });
    const y = fd.alloc({ protocol: 'map' });
    buffer(m, fd, x, 0x10000n, 0xaa); // the buffer lives in x; y stays empty
    a.attachIoasid(x);
    const before = state(m, fd);
    expectErrno(() => b.attachIoasid(y), 'EINVAL', new RegExp(`b cannot route its RID to IOASID ${y}: a, of the same IOMMU group 7, routes its RID to IOASID ${x}`));
    expect(state(m, fd)).toEqual(before);
    // The group is whole only in x.
    b.attachIoasid(x);
    expect([...a.dmaRead(0x10000n, 2)]).toEqual([0xaa, 0xaa]);
    expect([...b.dmaRead(0x10000n, 2)]).toEqual([0xaa, 0xaa]);
  });

  it('detach and reattach: the group moves only once no member routes elsewhere; partial → EPERM stays', () => {
    const { m, a, b } = group();
    const fd = m.openIoasidFd();
    a.bindIoasidFd(fd);
    b.bindIoasidFd(fd);
    const x = fd.alloc({ protocol: 'map' });
    const y = fd.alloc({ protocol: 'map' });
    const va = m.vmm.mmap(0x1000n);
    a.attachIoasid(x);
    b.attachIoasid(x);
    b.detachIoasid(x);
    expectErrno(() => fd.mapDma({ ioasid: x, iova: 0n, vaddr: va, size: 0x1000n }), 'EPERM', /group 7.*attach b/);
    expectErrno(() => b.attachIoasid(y), 'EINVAL', /group 7/);
    a.detachIoasid(x);
    b.attachIoasid(y); // nothing of the group is in x any more
    expectErrno(() => a.attachIoasid(x), 'EINVAL', /routes its RID to IOASID/);
    expectErrno(() => fd.mapDma({ ioasid: y, iova: 0n, vaddr: va, size: 0x1000n }), 'EPERM', /attach a/);
    a.attachIoasid(y);
    fd.mapDma({ ioasid: y, iova: 0n, vaddr: va, size: 0x1000n });
    m.vmm.write(va, bytes(5));
    expect([...a.dmaRead(0n, 1)]).toEqual([5]);
    expect([...b.dmaRead(0n, 1)]).toEqual([5]);
    expect(() => a.dmaRead(0x10000n, 1)).toThrow(DmaFault);
  });

  it('nesting: a child is stacked on the parent for the whole group, one member at a time, never split', () => {
    const { m, a, b } = group();
    const fd = m.openIoasidFd();
    a.bindIoasidFd(fd);
    b.bindIoasidFd(fd);
    const p = fd.alloc({ protocol: 'map' });
    a.attachIoasid(p);
    b.attachIoasid(p);
    fd.mapDma({ ioasid: p, iova: 0n, vaddr: m.guest.vaddr, size: m.guest.size });
    const c1 = fd.createNesting({ parent: p, protocol: 'map' });
    const c2 = fd.createNesting({ parent: p, protocol: 'map' });
    a.attachIoasid(c1); // a: [p, c1], b: [p] — prefixes of one another
    expectErrno(() => fd.mapDma({ ioasid: c1, iova: 0x4000n, vaddr: 0x1000n, size: 0x1000n }), 'EPERM', /attach b/);
    expectErrno(() => b.attachIoasid(c2), 'EINVAL', new RegExp(`a, of the same IOMMU group 7, routes its RID to IOASID ${c1}`));
    b.attachIoasid(c1);
    fd.mapDma({ ioasid: c1, iova: 0x4000n, vaddr: 0x1000n, size: 0x1000n });
    m.guest.write(0x1000n, bytes(9));
    expect([...a.dmaRead(0x4000n, 1)]).toEqual([9]);
    expect([...b.dmaRead(0x4000n, 1)]).toEqual([9]);
    // Back down, one member at a time; the other child only once nobody is on c1.
    a.detachIoasid(c1);
    expectErrno(() => a.attachIoasid(c2), 'EINVAL', /routes its RID to IOASID/);
    expectErrno(() => b.detachIoasid(p), 'EBUSY', /nested/);
    b.detachIoasid(c1);
    a.attachIoasid(c2);
    b.attachIoasid(c2);
    // A member that left the parent altogether cannot go to another root IOASID while the other is in p.
    a.detachIoasid(c2);
    a.detachIoasid(p);
    const q = fd.alloc({ protocol: 'map' });
    expectErrno(() => a.attachIoasid(q), 'EINVAL', /group 7/);
  });

  it('PASID attachments are each device\'s own: a sibling may attach a vPASID anywhere', () => {
    const { m, a, b } = group();
    const fd = m.openIoasidFd();
    a.bindIoasidFd(fd);
    b.bindIoasidFd(fd);
    const x = fd.alloc({ protocol: 'map' });
    const y = fd.alloc({ protocol: 'map' });
    a.attachIoasid(x);
    b.attachIoasid(x);
    buffer(m, fd, y, 0x20000n, 0x5b);
    b.attachIoasid(y, { userPasid: 5 });
    a.attachIoasid(y, { userPasid: 6 });
    expect([...b.dmaRead(0x20000n, 1, { pasid: 5 })]).toEqual([0x5b]);
    expect([...a.dmaRead(0x20000n, 1, { pasid: 6 })]).toEqual([0x5b]);
    // a was not given vPASID 5: its tables have nothing there.
    expect(() => a.dmaRead(0x20000n, 1, { pasid: 5 })).toThrow(DmaFault);
    // A PASID attachment does not count as the group's RID route.
    a.detachIoasid(x);
    b.detachIoasid(x);
    a.attachIoasid(x);
    // b's vPASID 5 is in y, but its RID would split the group between x and y.
    expectErrno(() => b.attachIoasid(y), 'EINVAL', /group 7/);
    b.attachIoasid(x);
    expect([...b.dmaRead(0x20000n, 1, { pasid: 5 })]).toEqual([0x5b]);
  });
});

describe("an mdev's parent belongs to the host driver", () => {
  function mdevs() {
    const { m } = mockMachine({
      devices: [
        { name: 'p' },
        { name: 'q' },
        { name: 'md1', kind: 'mdev', parent: 'p' },
        { name: 'md2', kind: 'mdev', parent: 'p' },
        { name: 'mdq', kind: 'mdev', parent: 'q' },
      ],
    });
    return { m, fd1: m.openIoasidFd(), fd2: m.openIoasidFd() };
  }

  it('binding the parent while an mdev is bound, or an mdev while its parent is bound, is EBUSY on any fd', () => {
    const { m, fd1, fd2 } = mdevs();
    const [p, q, md1, md2, mdq] = ['p', 'q', 'md1', 'md2', 'mdq'].map((n) => m.device(n));
    md1.bindIoasidFd(fd1);
    expectErrno(() => p.bindIoasidFd(fd1), 'EBUSY', /parent of mdev md1, bound to this/);
    expectErrno(() => p.bindIoasidFd(fd2), 'EBUSY', /parent of mdev md1, bound to another/);
    md2.bindIoasidFd(fd2); // mdevs of one parent in two fds: each rides on its own host PASIDs
    q.bindIoasidFd(fd1);
    expectErrno(() => mdq.bindIoasidFd(fd1), 'EBUSY', /rides on q/);
    expectErrno(() => mdq.bindIoasidFd(fd2), 'EBUSY', /rides on q/);
    md1.unbindIoasidFd();
    expectErrno(() => p.bindIoasidFd(fd1), 'EBUSY', /md2/);
    md2.unbindIoasidFd();
    p.bindIoasidFd(fd1);
    expectErrno(() => md1.bindIoasidFd(fd2), 'EBUSY', /rides on p/);
    expect(md1.fd).toBeUndefined();
  });

  it('an mdev puts on the wire only host PASIDs it was given; it cannot choose one', () => {
    const { m, fd1, fd2 } = mdevs();
    const md1 = m.device('md1');
    const md2 = m.device('md2');
    md1.bindIoasidFd(fd1);
    md2.bindIoasidFd(fd2);
    const x = fd1.alloc({ protocol: 'map' });
    const y = fd2.alloc({ protocol: 'map' });
    md1.attachIoasid(x);
    md2.attachIoasid(y);
    buffer(m, fd2, y, 0x30000n, 0x77);
    const hostX = md1.wire(undefined).pasid;
    const hostY = md2.wire(undefined).pasid;
    expect(hostX).not.toBe(hostY);
    expect([...md2.dmaRead(0x30000n, 1)]).toEqual([0x77]);
    expect(() => md1.dmaRead(0x30000n, 1)).toThrow(DmaFault);
    // A pasid option is a vPASID: md1 has none attached, whatever number it names (even md2's host PASID).
    for (const pasid of [hostY, hostX, 0, 1]) expectErrno(() => md1.dmaRead(0x30000n, 1, { pasid }), 'EINVAL', /no vPASID/);
  });
});

describe('per-command costs do not grow with what else exists', () => {
  it('ATTACH, MAP_DMA, DETACH and an mdev DMA never read the attachments of other IOASIDs', () => {
    const { m } = mockMachine({ devices: [{ name: 'd0' }, { name: 'd1' }, { name: 'pf' }, { name: 'md', kind: 'mdev', parent: 'pf' }] });
    const fd = m.openIoasidFd();
    const d0 = m.device('d0');
    const d1 = m.device('d1');
    const md = m.device('md');
    for (const d of [d0, d1, md]) d.bindIoasidFd(fd);
    // An ALLOC + ATTACH loop: before the fix, every attach scanned every IOASID (quadratic).
    let reads = 0;
    for (let i = 0; i < 300; i++) {
      const id = fd.alloc({ protocol: 'map' });
      d0.attachIoasid(id, { userPasid: i + 1 });
      const o = fd.ioasidObject(id);
      const list = o.attachments;
      Object.defineProperty(o, 'attachments', {
        value: new Proxy(list, {
          get(t, k, r) {
            reads++;
            return Reflect.get(t, k, r);
          },
        }),
      });
    }
    const x = fd.alloc({ protocol: 'map' });
    d1.attachIoasid(x);
    md.attachIoasid(x);
    const va = m.vmm.mmap(0x1000n);
    fd.mapDma({ ioasid: x, iova: 0x1000n, vaddr: va, size: 0x1000n });
    md.dmaWrite(0x1000n, bytes(1));
    d1.dmaRead(0x1000n, 1);
    fd.getInfo(x);
    md.detachIoasid(x);
    d1.detachIoasid(x);
    d0.attachIoasid(x, { userPasid: 1000 });
    d0.detachIoasid(x, { userPasid: 1000 });
    expect(reads).toBe(0);
  });
});
