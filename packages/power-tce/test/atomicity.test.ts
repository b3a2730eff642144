import { describe, expect, it } from 'vitest';
import { everyAllocationFailure } from '../../../test/support/atomicity.js';
import { DDW, KiB, MiB, powerMachine } from './helpers.js';

function snapshot(m: ReturnType<typeof powerMachine>['m']) {
  return { frames: m.hostMemory.kernelFramesInUse, regs: m.iommu.registers() };
}

/** Runs `op` with the n-th allocation failing, for n = 1, 2, … until it succeeds; state must not move on failure. */
function everyFailure(m: ReturnType<typeof powerMachine>['m'], op: () => void, extra: () => unknown = () => null): number {
  return everyAllocationFailure(m, op, { state: () => ({ ...snapshot(m), extra: extra() }), limit: 64 });
}

describe('atomicity under allocation failure', () => {
  it('BIND_IOASID_FD (PE and default window table)', () => {
    const { m, iommu } = powerMachine();
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    expect(everyFailure(m, () => dev.bindIoasidFd(fd))).toBeGreaterThan(1);
    expect(iommu.peOf(dev.desc)).toBe(510);
  });

  it('ALLOC of both windows: a failure at the second table gives the first one back', () => {
    const { m } = powerMachine();
    const fd = m.openIoasidFd();
    m.device('dev0').bindIoasidFd(fd);
    const calls = everyFailure(m, () => fd.alloc({ protocol: 'map', window: { pageSize: 4n * KiB, size: 1n << 40n, levels: 3 }, defaultWindow: true }), () => fd.describe().ioasids);
    expect(calls).toBeGreaterThan(2);
  });

  it('ALLOC of a multi-level dynamic window and MAP_DMA that grows the table', () => {
    const { m } = powerMachine();
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd);
    let id = -1;
    everyFailure(m, () => {
      id = fd.alloc({ protocol: 'map', window: { pageSize: 4n * KiB, size: 1n << 40n, levels: 3 } });
    });
    dev.attachIoasid(id);
    const va = m.vmm.mmap(4n * MiB, { hugePages: '2M' });
    const calls = everyFailure(
      m,
      () => fd.mapDma({ ioasid: id, iova: DDW + 0x7ffe00000n, vaddr: va, size: 4n * MiB }),
      () => fd.dumpPgtable(id).root,
    );
    expect(calls).toBeGreaterThan(2); // crossed a level boundary: several tables were allocated
    expect(fd.lookup(id, DDW + 0x7ffe00000n).output).not.toBeNull();
  });
});
