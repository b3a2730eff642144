/**
 * Issue 18 item 6 for POWER: the PHB4 alone over a memory image (VendorRegistration.hardware),
 * configured from a registers() snapshot as skiboot programs one, walks as the live PHB walks.
 */
import { describe, expect, it } from 'vitest';
import { AllocInjector, DmaFault, HostMemory, findVendor, type DmaRequest, type IommuUnit } from '@ioasid/core';
import { Phb4, phb4FromRegisters, type PowerNvIommu } from '../src/index.js';
import { DDW, GiB, KiB, MiB, expectErrno, newHost, powerMachine } from './helpers.js';
import { req, walkOf } from './walk-support.js';

const hardware = (mem: HostMemory, regs: Record<string, bigint>): IommuUnit => findVendor('power-tce').hardware!(mem, regs);

/** Several flows on one machine: default window, DDW, both windows, an idle PE and a frozen PE. */
function flows() {
  const { m, iommu } = powerMachine({ devices: ['a', 'b', 'c', 'd', 'e'].map((name, i) => ({ name, group: i + 1 })), guestMemory: 64n * MiB });
  const fd = m.openIoasidFd();
  const dev = (n: string) => m.device(n);
  for (const n of ['a', 'b', 'c', 'd', 'e']) dev(n).bindIoasidFd(fd);
  const g = { vaddr: m.guest.vaddr, size: 64n * MiB };
  const def = fd.alloc({ protocol: 'map' });
  dev('a').attachIoasid(def);
  dev('d').attachIoasid(def);
  fd.mapDma({ ioasid: def, iova: 0n, vaddr: g.vaddr, size: g.size });
  fd.mapDma({ ioasid: def, iova: 0x10000000n, vaddr: g.vaddr, size: 64n * KiB, write: false });
  const ddw = fd.alloc({ protocol: 'map', window: { pageSize: 64n * KiB, size: 1n * GiB, levels: 2 } });
  dev('b').attachIoasid(ddw);
  fd.mapDma({ ioasid: ddw, iova: DDW, vaddr: g.vaddr, size: g.size });
  const both = fd.alloc({ protocol: 'map', defaultWindow: true, window: { pageSize: 2n * MiB, size: 4n * GiB } });
  dev('c').attachIoasid(both);
  fd.mapDma({ ioasid: both, iova: 0x200000n, vaddr: g.vaddr, size: 4n * MiB });
  fd.mapDma({ ioasid: both, iova: DDW + 0x40000000n, vaddr: g.vaddr, size: g.size });
  // Traffic warms the live PHB's caches; d's stray DMA freezes its PE.
  dev('a').dmaRead(0x1000n, 4);
  dev('c').dmaRead(DDW + 0x40000000n, 4);
  expect(() => dev('d').dmaRead(0x8000000n, 4)).toThrow(DmaFault);
  expect(iommu.isFrozen(dev('d').desc)).toBe(true);
  return { m, iommu: iommu as PowerNvIommu, rids: ['a', 'b', 'c', 'd', 'e'].map((n) => dev(n).rid) };
}

/** The machine's host memory, copied chunk by chunk from image() into a fresh HostMemory. */
function exportMemory(src: HostMemory): HostMemory {
  const mem = new HostMemory(new AllocInjector(), src.size);
  for (const { pa, bytes } of src.image()) mem.write(pa, bytes);
  return mem;
}

const ADDRESSES = [
  0n, 0x1000n, 0x3fff000n, 0x4000000n, 0x8000000n, 0x10000000n, 0x10010000n, 0x200000n, 0x5ff000n, 0x600000n,
  (1n << 31n) - 0x1000n, 1n << 31n, (1n << 32n) - 0x1000n,
  DDW, DDW + 0x23000n, DDW + 0x3ff0000n, DDW + 0x4000000n, DDW + 0x40000000n, DDW + 0x43fe000n, DDW + 0x44000000n,
  DDW + (1n << 30n) - 0x1000n, DDW + (1n << 30n), DDW + (1n << 32n) - 0x1000n, DDW + (1n << 32n), DDW - 0x1000n,
  (1n << 60n) - 0x1000n, 1n << 60n, (1n << 64n) - 0x1000n,
];

describe('VendorRegistration.hardware: a PHB4 over a memory image', () => {
  it('walks every (RID, bus address, direction) as the live PHB does: same result, same reads', () => {
    const { m, rids } = flows();
    const regs = m.iommu.registers();
    expect(Object.keys(regs).some((k) => k.startsWith('PESTB['))).toBe(true);
    const live = m.iommu as Phb4;
    const image = hardware(exportMemory(m.hostMemory), regs) as Phb4;
    expect(image).toBeInstanceOf(Phb4);
    expect(image.registers()).toEqual(regs);
    const requests: DmaRequest[] = [];
    for (const rid of [...rids, 0x300, 0]) {
      for (const iova of ADDRESSES) for (const write of [false, true]) requests.push(req(rid, iova + 0x10n, write));
    }
    const outcomes = new Set<string>();
    for (const r of requests) {
      const a = walkOf(live, r);
      const b = walkOf(image, r);
      expect(b.result).toEqual(a.result);
      expect(b.trace).toEqual(a.trace);
      outcomes.add(typeof a.result === 'number' ? 'ok' : a.result.name);
    }
    expect([...outcomes].sort()).toEqual(['NO_PE', 'OUT_OF_WINDOW', 'PERMISSION', 'PE_FROZEN', 'TCE_INVALID', 'TVE_INVALID', 'ok']);
    // The image unit translates too: a DMA it has never seen walks memory and fills its own caches.
    const r = req(rids[1], DDW + 0x23000n, true);
    expect(image.translate(r)).toBe(walkOf(live, r).result);
    expect(walkOf(image, r, true).trace.events.filter((e) => 'cache' in e)).toEqual([
      { cache: 'RID translation cache', hit: true },
      { cache: 'TCE cache', hit: true },
    ]);
  });

  it('is programmed through PHB_IODA_ADDR / PHB_IODA_DATA0 as skiboot does, from a hand-written register set', () => {
    const host = newHost();
    // 64 PEs; TVT[5] a bypass TVE (TVE[51] alone); PE#2 frozen for DMA with its PEEV bit (PPC_BIT(2)).
    const user = { PHB_PHB4_EEH_CAP: 0x0400000000000000n, PHB_RTT_BAR: (1n << 63n) | 0x2000000n, 'TVT[5]': 0x1000n, 'PESTB[2]': 1n << 63n, 'PEEV[0]': 1n << 61n };
    const phb = phb4FromRegisters(host, user);
    expect(phb.numPes).toBe(64);
    expect(phb.registers()).toEqual(user);
    expect(phb.dmaStopped[2]).toBe(1);
    expect(phb.tve(5).bypass).toBe(true);
    expect(phb.read('PHB_IODA_ADDR')).not.toBe(0n); // left where the last auto-increment put it
  });

  it('refuses a missing or malformed register with EINVAL naming it', () => {
    const mem = newHost();
    const ok = { PHB_PHB4_EEH_CAP: 0x2000000000000000n, PHB_RTT_BAR: (1n << 63n) | 0x2000000n };
    expectErrno(() => hardware(mem, { PHB_RTT_BAR: ok.PHB_RTT_BAR }), 'EINVAL', /PHB_PHB4_EEH_CAP is missing/);
    expectErrno(() => hardware(mem, { PHB_PHB4_EEH_CAP: ok.PHB_PHB4_EEH_CAP }), 'EINVAL', /PHB_RTT_BAR is missing/);
    expectErrno(() => hardware(mem, { ...ok, PHB_PHB4_EEH_CAP: 3n << 52n }), 'EINVAL', /PHB_PHB4_EEH_CAP/);
    expectErrno(() => hardware(mem, { ...ok, PHB_PHB4_EEH_CAP: ok.PHB_PHB4_EEH_CAP | 1n }), 'EINVAL', /PHB_PHB4_EEH_CAP/);
    expectErrno(() => hardware(mem, { ...ok, PHB_PHB4_EEH_CAP: 1024n << 52n }), 'EINVAL', /PHB_PHB4_EEH_CAP/);
    expectErrno(() => hardware(mem, { ...ok, PHB_RTT_BAR: ok.PHB_RTT_BAR | 1n }), 'EINVAL', /PHB_RTT_BAR/);
    expectErrno(() => hardware(mem, { ...ok, PHB_RTT_BAR: -1n }), 'EINVAL', /PHB_RTT_BAR/);
    expectErrno(() => hardware(mem, { ...ok, PHB_RTT_BAR: 1 as unknown as bigint }), 'EINVAL', /PHB_RTT_BAR/);
    expectErrno(() => hardware(mem, { ...ok, 'TVT[1024]': 1n }), 'EINVAL', /TVT\[1024\]/);
    expectErrno(() => hardware(mem, { ...ok, 'TVT[01]': 1n }), 'EINVAL', /TVT\[01\]/);
    expectErrno(() => hardware(mem, { ...ok, 'TVT[3]': 1n << 64n }), 'EINVAL', /TVT\[3\]/);
    expectErrno(() => hardware(mem, { ...ok, 'PESTA[512]': 1n }), 'EINVAL', /PESTA\[512\]/);
    expectErrno(() => hardware(mem, { ...ok, 'PEEV[8]': 1n }), 'EINVAL', /PEEV\[8\]/);
    expectErrno(() => hardware(mem, { ...ok, PHB_TCE_KILL: 0n }), 'EINVAL', /PHB_TCE_KILL/);
    expectErrno(() => hardware(mem, null as unknown as Record<string, bigint>), 'EINVAL', /registers/);
    expect(hardware(mem, ok).registers()).toEqual(ok);
  });
});
