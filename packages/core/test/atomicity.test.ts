import { describe, expect, it } from 'vitest';
import type { Machine, IoasidFd } from '../src/index.js';
import { everyAllocationFailure } from '../../../test/support/atomicity.js';
import { MiB, mockMachine } from './helpers.js';

function snapshot(m: Machine, fd: IoasidFd) {
  return { frames: m.hostMemory.framesInUse, pasids: m.pasids.inUse, fd: fd.describe() };
}

/** Fails the n-th allocation for n = 1, 2, … until the command succeeds; state must not move on failure. */
function everyAllocation(m: Machine, fd: IoasidFd, command: () => unknown): number {
  return everyAllocationFailure(m, command, { state: () => snapshot(m, fd), limit: 200 });
}

function setup() {
  // The mdev rides on 'q', which stays with the host driver (an mdev's parent is never bound with it).
  const { m } = mockMachine({ devices: [{ name: 'p' }, { name: 'q' }, { name: 'md', kind: 'mdev', parent: 'q' }] });
  const fd = m.openIoasidFd();
  m.device('p').bindIoasidFd(fd);
  m.device('md').bindIoasidFd(fd);
  return { m, fd };
}

describe('atomicity under injected allocation failure', () => {
  it('ALLOC', () => {
    const { m, fd } = setup();
    expect(everyAllocation(m, fd, () => fd.alloc({ protocol: 'map' }))).toBeGreaterThan(1);
  });

  it('MAP_DMA of a range needing several tables, and UNMAP_DMA', () => {
    const { m, fd } = setup();
    const a = fd.alloc({ protocol: 'map' });
    const va = m.vmm.mmap(4n * MiB);
    const reached = everyAllocation(m, fd, () => fd.mapDma({ ioasid: a, iova: (1n << 30n) - 2n * MiB, vaddr: va, size: 4n * MiB }));
    expect(reached).toBeGreaterThan(3);
    everyAllocation(m, fd, () => fd.unmapDma({ ioasid: a, all: true }));
  });

  it('ATTACH of a pdev and of an mdev (host PASID allocation)', () => {
    const { m, fd } = setup();
    const a = fd.alloc({ protocol: 'map' });
    everyAllocation(m, fd, () => m.device('p').attachIoasid(a));
    expect(everyAllocation(m, fd, () => m.device('md').attachIoasid(a))).toBeGreaterThan(1);
  });

  it('CREATE_NESTING and a software-nested MAP_DMA that touches the shadow', () => {
    const { m, fd } = setup();
    const a = fd.alloc({ protocol: 'map' });
    m.device('p').attachIoasid(a);
    fd.mapDma({ ioasid: a, iova: 0n, vaddr: m.guest.vaddr, size: 16n * MiB });
    const child = everyAllocation(m, fd, () => fd.createNesting({ parent: a, protocol: 'map' }));
    expect(child).toBeGreaterThan(1);
    const c = fd.ioasidIds.at(-1)!;
    m.device('p').attachIoasid(c);
    expect(everyAllocation(m, fd, () => fd.mapDma({ ioasid: c, iova: 1n << 30n, vaddr: 0n, size: 4n * MiB }))).toBeGreaterThan(2);
    // A parent map that must extend the shadow of its child.
    fd.mapDma({ ioasid: c, iova: 2n << 30n, vaddr: 32n * MiB, size: 2n * MiB });
    const va = m.vmm.mmap(2n * MiB);
    everyAllocation(m, fd, () => fd.mapDma({ ioasid: a, iova: 32n * MiB, vaddr: va, size: 2n * MiB }));
  });

  it('REGISTER_MEMORY', () => {
    const { m, fd } = setup();
    const va = m.vmm.mmap(MiB);
    everyAllocation(m, fd, () => fd.registerMemory({ vaddr: va, size: MiB }));
    expect(fd.accounting.lockedPages).toBe(256);
  });
});
