import { describe, expect, it } from 'vitest';
import { DmaFault } from '../src/index.js';
import { bytes, expectErrno, MiB, mockMachine } from './helpers.js';

/** Proposal §5.3: a gIOVA space nested in software on the GPA space. */
function nested() {
  const { m, driver } = mockMachine();
  const fd = m.openIoasidFd();
  const dev = m.device('dev0');
  dev.bindIoasidFd(fd, { label: 'vf0' });
  const gpa = fd.alloc({ protocol: 'map' });
  dev.attachIoasid(gpa);
  fd.mapDma({ ioasid: gpa, iova: 0n, vaddr: m.guest.vaddr, size: m.guest.size });
  const giova = fd.createNesting({ parent: gpa, protocol: 'map' });
  dev.attachIoasid(giova);
  return { m, driver, fd, dev, gpa, giova };
}

describe('software nesting (proposal 5.3)', () => {
  it('reports software nesting and composes gIOVA → GPA → host', () => {
    const { m, fd, dev, giova } = nested();
    expect(fd.getInfo(giova).nesting).toBe('software');
    fd.mapDma({ ioasid: giova, iova: 0x2000n, vaddr: 0x1000n, size: 0x1000n });
    dev.dmaWrite(0x2010n, bytes(5, 6));
    expect([...m.guest.read(0x1010n, 2)]).toEqual([5, 6]);
    // The device now routes to the child only: GPA 0x1000 is not a gIOVA.
    expect(() => dev.dmaRead(0x1000n, 1)).toThrow(DmaFault);
  });

  it('reflects parent changes in the shadow, incrementally', () => {
    const { m, fd, dev, gpa, giova } = nested();
    fd.mapDma({ ioasid: giova, iova: 0x10000n, vaddr: 0x200000n, size: 0x2000n });
    m.guest.write(0x201000n, bytes(7));
    expect([...dev.dmaRead(0x11000n, 1)]).toEqual([7]);
    // The VMM moves GPA 0x200000-0x3fffff to another backing: parent unmap then map.
    fd.unmapDma({ ioasid: gpa, all: true });
    expect(() => dev.dmaRead(0x11000n, 1)).toThrow(DmaFault);
    const va = m.vmm.mmap(2n * MiB);
    m.vmm.write(va + 0x1000n, bytes(9));
    fd.mapDma({ ioasid: gpa, iova: 0x200000n, vaddr: va, size: 2n * MiB });
    expect([...dev.dmaRead(0x11000n, 1)]).toEqual([9]);
    fd.unmapDma({ ioasid: giova, iova: 0x10000n, size: 0x2000n });
    expect(() => dev.dmaRead(0x11000n, 1)).toThrow(DmaFault);
  });

  it('takes the intersection of child and parent permissions', () => {
    const { m, fd, dev, gpa, giova } = nested();
    fd.unmapDma({ ioasid: gpa, all: true });
    fd.mapDma({ ioasid: gpa, iova: 0n, vaddr: m.guest.vaddr, size: m.guest.size, write: false });
    fd.mapDma({ ioasid: giova, iova: 0x4000n, vaddr: 0x4000n, size: 0x1000n });
    expect(dev.dmaRead(0x4000n, 1)).toHaveLength(1);
    expect(() => dev.dmaWrite(0x4000n, bytes(1))).toThrow(DmaFault);
  });

  it('requires the device on the parent first and hands routing back on detach', () => {
    const { m, fd, dev, gpa, giova } = nested();
    const other = m.device('dev1');
    other.bindIoasidFd(fd, { label: 'vf1' });
    expectErrno(() => other.attachIoasid(giova), 'EINVAL', /parent IOASID/);
    expectErrno(() => dev.detachIoasid(gpa), 'EBUSY', /nested/);
    m.guest.write(0x3000n, bytes(3));
    dev.detachIoasid(giova);
    expect([...dev.dmaRead(0x3000n, 1)]).toEqual([3]);
    expectErrno(() => fd.createNesting({ parent: giova, protocol: 'map' }), 'EINVAL', /only one level/);
  });
});
