/**
 * Issue 15, findings 1 and 2, end to end on every built-in vendor: host memory is finite and
 * shared by the kernel's structures and the VMM's pages (DESIGN §4), so no buffer lies where an
 * entry cannot reach it and no kernel table is ever carved out of a VMM page.
 */
import { describe, expect, it } from 'vitest';
import '@ioasid/intel-vtd';
import '@ioasid/arm-smmuv3';
import '@ioasid/power-tce';
import '@ioasid/riscv-iommu';
import { createMachine, IoasidError, type Machine } from '@ioasid/core';

const KiB = 1024n;
const MiB = 1n << 20n;
const PAGE = 4096n;
const VENDORS = ['intel-vtd', 'arm-smmuv3', 'power-tce', 'riscv-iommu'] as const;

function pattern(n: number, seed: number): Uint8Array {
  return new Uint8Array(n).map((_, i) => (i * 31 + seed) & 0xff);
}

function hostFrame(m: Machine, va: bigint): number {
  const r = m.vmm.region(va, 1n);
  return r.frameOf(Number((va - r.vaddr) / PAGE));
}

/** One fd with dev on a fresh 'map' IOASID, and a buffer of `pages` mapped at IOVA 1 MiB. */
function mapped(m: Machine, dev: string, va: bigint, pages: bigint) {
  const fd = m.openIoasidFd();
  const d = m.device(dev);
  d.bindIoasidFd(fd, { label: dev });
  const ioasid = fd.alloc({ protocol: 'map' });
  d.attachIoasid(ioasid);
  fd.mapDma({ ioasid, iova: MiB, vaddr: va, size: pages * PAGE });
  return { fd, d, ioasid };
}

describe.each(VENDORS)('finite host memory on %s (issue 15)', (vendor) => {
  it('finding 1: after a huge unpopulated mmap, a small buffer is still reached exactly where the VMM sees it', () => {
    const m = createMachine({ vendor, guestMemory: 64n * MiB });
    m.vmm.mmap(1n << 50n);
    const va = m.vmm.mmap(4n * PAGE);
    const { fd, d, ioasid } = mapped(m, 'dev0', va, 4n);
    const rootBefore = JSON.stringify(fd.dumpPgtable(ioasid), (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v));
    const data = pattern(4 * 4096, 5);
    d.dmaWrite(MiB, data);
    expect(Buffer.compare(m.vmm.read(va, data.length), data)).toBe(0);
    expect(Buffer.compare(d.dmaRead(MiB, data.length), data)).toBe(0);
    for (let p = 0n; p < 4n; p++) {
      const f = hostFrame(m, va + p * PAGE);
      expect(BigInt(f) * PAGE).toBeLessThan(m.hostMemory.size);
      expect(Buffer.compare(m.hostMemory.read(BigInt(f) * PAGE, 4096), data.subarray(Number(p) * 4096, Number(p + 1n) * 4096))).toBe(0);
    }
    // The device's writes changed no table: the decoded tables are as before.
    const rootAfter = JSON.stringify(fd.dumpPgtable(ioasid), (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v));
    expect(rootAfter).toBe(rootBefore);
  });

  it('finding 2: ALLOC until memory or IDs run out ends in a clean errno, and never touches another fd\'s buffer', () => {
    const m = createMachine({ vendor, hostMemory: 256n * MiB, guestMemory: 16n * MiB });
    const va = m.vmm.mmap(64n * KiB);
    const secret = pattern(64 * 1024, 9);
    m.vmm.write(va, secret);
    const victim = mapped(m, 'dev0', va, 16n);
    const fd2 = m.openIoasidFd();
    m.device('dev1').bindIoasidFd(fd2, { label: 'attacker' });
    const ids: number[] = [];
    let err: unknown;
    for (let n = 0; n < 200_000 && err === undefined; n++) {
      try {
        ids.push(fd2.alloc({ protocol: 'map' }));
      } catch (e) {
        err = e;
      }
    }
    expect(err).toBeInstanceOf(IoasidError);
    expect(['ENOMEM', 'ENOSPC']).toContain((err as IoasidError).errno);
    // The failed ALLOC changed nothing; the victim's bytes and DMA are intact.
    const frames = m.hostMemory.framesInUse;
    const described = fd2.describe().ioasids.length;
    expect(() => fd2.alloc({ protocol: 'map' })).toThrow(IoasidError);
    expect(m.hostMemory.framesInUse).toBe(frames);
    expect(fd2.describe().ioasids.length).toBe(described);
    expect(Buffer.compare(m.vmm.read(va, secret.length), secret)).toBe(0);
    expect(Buffer.compare(victim.d.dmaRead(MiB, secret.length), secret)).toBe(0);
    // Freeing makes room again.
    fd2.free(ids.pop()!);
    expect(typeof fd2.alloc({ protocol: 'map' })).toBe('number');
    fd2.close();
    expect(Buffer.compare(victim.d.dmaRead(MiB, secret.length), secret)).toBe(0);
  }, 120_000);
});
