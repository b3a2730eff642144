/** The PHB's traced walk as the uAPI shows it: fd.lookup(...).trace and device.traceDma (issue 18 item 2). */
import { describe, expect, it } from 'vitest';
import { type WalkTrace } from '@ioasid/core';
import { DDW, GiB, KiB, MiB, powerMachine } from './helpers.js';
import { expectReadsMatch, readsOf } from './walk-support.js';
import type { Phb4 } from '../src/index.js';

const shape = (t: WalkTrace | undefined) => readsOf(t!).map((r) => [r.structure, r.level]);

describe('LOOKUP and traceDma carry the PHB walk', () => {
  it('default window: RTT entry, TVE 2·PE, the one-level TCE; DDW: RTT entry, TVE 2·PE+1, indirect TCE, TCE', () => {
    const { m, iommu } = powerMachine({ devices: [{ name: 'a', group: 1 }] });
    const fd = m.openIoasidFd();
    const dev = m.device('a');
    dev.bindIoasidFd(fd);
    const both = fd.alloc({ protocol: 'map', defaultWindow: true, window: { pageSize: 64n * KiB, size: 1n * GiB, levels: 2 } });
    dev.attachIoasid(both);
    fd.mapDma({ ioasid: both, iova: 0n, vaddr: m.guest.vaddr, size: 64n * MiB });
    fd.mapDma({ ioasid: both, iova: DDW, vaddr: m.guest.vaddr, size: 64n * MiB });
    const pe = iommu.peOf(dev.desc)!;

    const low = fd.lookup(both, 0x3456n);
    expect(shape(low.trace)).toEqual([
      ['RTT entry', undefined],
      ['TVE', undefined],
      ['TCE', 1],
    ]);
    const reads = readsOf(low.trace!);
    expect(reads[0]).toMatchObject({ index: dev.rid, fields: { 'PE#': pe } });
    expect(reads[1]).toMatchObject({ index: pe * 2, fields: { NUM_LEVELS: 0, IO_PSIZE: 1 } });
    expect(reads[2]).toMatchObject({ index: 3, fields: { READ: true, WRITE: true } });
    expect(low.trace!.output).toBe(low.output);
    expect(low.trace).toMatchObject({ perms: { read: true, write: true }, pageSize: 4n * KiB });

    const high = fd.lookup(both, DDW + 0x23456n, { write: true });
    expect(shape(high.trace)).toEqual([
      ['RTT entry', undefined],
      ['TVE', undefined],
      ['indirect TCE', 1],
      ['TCE', 2],
    ]);
    expect(readsOf(high.trace!)[1]).toMatchObject({ index: pe * 2 + 1, fields: { NUM_LEVELS: 1, IO_PSIZE: 5 } });
    expect(high.trace!.output).toBe(high.output);
    expect(high.trace!.pageSize).toBe(64n * KiB);
    expectReadsMatch(m.iommu as Phb4, m.hostMemory, low.trace!);
    expectReadsMatch(m.iommu as Phb4, m.hostMemory, high.trace!);

    // The device's own request takes the same walk; with caches, a warm TCE cache ends it.
    expect(dev.traceDma(DDW + 0x23456n)).toEqual({ ...high.trace, perms: { read: true, write: true } });
    dev.dmaRead(DDW + 0x23456n, 4);
    const warm = dev.traceDma(DDW + 0x23456n, { caches: true })!;
    expect(warm.events.map((e) => ('cache' in e ? `${e.cache}: ${e.hit ? 'hit' : 'miss'}` : e.structure))).toEqual(['RID translation cache: hit', 'TVE', 'TCE cache: hit']);
    expect(warm.output).toBe(high.output);
  });

  it('a DDW-only IOASID: bus address 0 has a zero TVE (TVE_INVALID), and nothing freezes the PE', () => {
    const { m, iommu } = powerMachine({ devices: [{ name: 'a', group: 1 }] });
    const fd = m.openIoasidFd();
    const dev = m.device('a');
    dev.bindIoasidFd(fd);
    const ddw = fd.alloc({ protocol: 'map', window: { pageSize: 4n * KiB, size: 1n << 32n } });
    dev.attachIoasid(ddw);
    const regs = m.iommu.registers();
    const t = dev.traceDma(0x1000n)!;
    expect(t.fault).toMatchObject({ name: 'TVE_INVALID', frozen: true });
    expect(readsOf(t).map((r) => [r.structure, r.decided])).toEqual([
      ['RTT entry', undefined],
      ['TVE', 'TCE_TABLE_SIZE = 0: the TVE is not valid'],
    ]);
    expect(m.iommu.registers()).toEqual(regs);
    expect(iommu.isFrozen(dev.desc)).toBe(false);
    const unmapped = fd.lookup(ddw, DDW + 0x5000n).trace!;
    expect(unmapped.fault).toMatchObject({ name: 'TCE_INVALID' });
    expect(readsOf(unmapped).at(-1)!.decided).toBe('READ = 0 and WRITE = 0');
  });
});
