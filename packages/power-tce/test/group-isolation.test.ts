import { describe, expect, it } from 'vitest';
import { DmaFault, type IoasidFd, type Machine } from '@ioasid/core';
import { decodeTve, type TceWindowDomain } from '../src/index.js';
import { DDW, expectErrno, KiB, MiB, powerMachine } from './helpers.js';

/**
 * Issue 15, finding 1 on POWER: a group is one PE and the PHB cannot tell its devices apart
 * (one RTT entry per RID, all pointing at the PE; one TVE per window). Two siblings in two
 * IOASIDs used to let the device in the empty IOASID read and write the other's buffer.
 */

const BUF = 0x10000n;

function siblings() {
  const { m, iommu } = powerMachine({ devices: [{ name: 'a', group: 3 }, { name: 'b', group: 3 }] });
  return { m, iommu, a: m.device('a'), b: m.device('b') };
}

/** 4 KiB of `fill` mapped at `iova` of `ioasid` (before any device is attached, so no group rule applies). */
function buffer(m: Machine, fd: IoasidFd, ioasid: number, iova: bigint, fill: number): bigint {
  const va = m.vmm.mmap(4n * KiB);
  m.vmm.write(va, new Uint8Array(16).fill(fill));
  fd.mapDma({ ioasid, iova, vaddr: va, size: 4n * KiB });
  return va;
}

function tableOf(fd: IoasidFd, ioasid: number): bigint {
  return (fd.ioasidObject(ioasid).domain as TceWindowDomain).tableAddr;
}

describe('POWER: an IOMMU group (one PE) is isolated only as a whole', () => {
  it('the finding, one fd: the sibling attaching to the empty IOASID is refused; it never reads or writes the buffer through it', () => {
    const { m, a, b } = siblings();
    const fd = m.openIoasidFd();
    a.bindIoasidFd(fd);
    b.bindIoasidFd(fd);
    const full = fd.alloc({ protocol: 'map' });
    const empty = fd.alloc({ protocol: 'map' });
    const va = buffer(m, fd, full, BUF, 0xab);
    b.attachIoasid(empty);
    const tve = () => decodeTve(m.iommu.registers()[`TVT[${2 * 510}]`] ?? 0n);
    expect(tve().tableAddr).toBe(tableOf(fd, empty));
    const before = fd.describe();
    expectErrno(() => a.attachIoasid(full), 'EINVAL', /a cannot route its RID to IOASID 1: b, of the same IOMMU group 3, routes its RID to IOASID 2/);
    expect(fd.describe()).toEqual(before);
    // The PE still points at the empty IOASID's table: nothing of the buffer is reachable.
    expect(tve().tableAddr).toBe(tableOf(fd, empty));
    for (const dev of [b, a]) {
      expect(() => dev.dmaRead(BUF, 4)).toThrow(DmaFault);
      dev.reset();
      expect(() => dev.dmaWrite(BUF, new Uint8Array([1]))).toThrow(DmaFault);
      dev.reset();
    }
    expect([...m.vmm.read(va, 2)]).toEqual([0xab, 0xab]);
    // The group moves as a whole: out of the empty IOASID, into the full one.
    b.detachIoasid(empty);
    a.attachIoasid(full);
    b.attachIoasid(full);
    expect([...a.dmaRead(BUF, 2)]).toEqual([0xab, 0xab]);
    expect([...b.dmaRead(BUF, 2)]).toEqual([0xab, 0xab]);
  });

  it('the finding, two fds: the second sibling cannot even bind to another fd (EBUSY)', () => {
    const { m, a, b } = siblings();
    const fd1 = m.openIoasidFd();
    const fd2 = m.openIoasidFd();
    a.bindIoasidFd(fd1);
    const full = fd1.alloc({ protocol: 'map' });
    buffer(m, fd1, full, BUF, 0xcd);
    a.attachIoasid(full);
    expectErrno(() => b.bindIoasidFd(fd2), 'EBUSY', /IOMMU group 3 with a, which is bound to another IOASID fd/);
    expect(b.fd).toBeUndefined();
    expect(fd2.describe().devices).toEqual([]);
  });

  it('two windows of one PE are not two address spaces: default window in one IOASID, DDW in another → EINVAL', () => {
    const { m, a, b } = siblings();
    const fd = m.openIoasidFd();
    a.bindIoasidFd(fd);
    b.bindIoasidFd(fd);
    const ddw = fd.alloc({ protocol: 'map', window: { pageSize: 64n * KiB, size: 1n << 32n } });
    const dflt = fd.alloc({ protocol: 'map' });
    const va = m.vmm.mmap(2n * MiB, { hugePages: '2M' }); // aligned for the window's 64 KiB pages
    m.vmm.write(va, new Uint8Array([0x77]));
    fd.mapDma({ ioasid: ddw, iova: DDW, vaddr: va, size: 64n * KiB });
    a.attachIoasid(ddw);
    expectErrno(() => b.attachIoasid(dflt), 'EINVAL', /group 3/);
    // b's requests in the DDW range reach the DDW as a's do (the PE is one), but b holds no second space.
    expect(fd.describe().ioasids.find((o) => o.id === dflt)!.attachments).toEqual([]);
  });
});

describe('POWER: ALLOC fields and the order of checks', () => {
  it('only window is a vendor field; a bad window is EINVAL even when the next allocation would fail', () => {
    const { m } = powerMachine();
    const fd = m.openIoasidFd();
    expectErrno(() => fd.alloc({ protocol: 'map', window: { pageSize: 4096n, size: 1n << 32n }, levels: 2 }), 'EINVAL', /field 'levels'.*takes window/);
    const frames = m.hostMemory.framesInUse;
    m.injectAllocFailure(1);
    expectErrno(() => fd.alloc({ protocol: 'map', window: { pageSize: 16n * MiB, size: 1n << 40n } }), 'EINVAL', /pageSize/);
    m.injectAllocFailure(0);
    expect(m.hostMemory.framesInUse).toBe(frames);
    expect(fd.describe().ioasids).toEqual([]);
  });
});
