import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DmaFault, IoasidError, type FaultRecord, type IovaRange, type Machine } from '@ioasid/core';
import { decodeTve, type PowerNvIommu, type TceWindowDomain } from '../src/index.js';
import { DDW, GiB, KiB, bytes, expectErrno, powerMachine } from './helpers.js';

/**
 * Issue 17 item 7: while a PE is attached to an IOASID its two TVEs hold exactly that IOASID's
 * windows. Attaching removes the kernel's default window when the IOASID has none (VFIO
 * take_ownership → pnv_pci_ioda2_unset_window: a zero TVE through OPAL, then a PE TCE kill);
 * detaching the last device gives the PE its default window back (release_ownership). So
 * `fd.getInfo(ioasid)` lists exactly the windows valid in the TVT, and a DMA where the IOASID has no
 * window is TVE_INVALID. Issue 17 item 5: no sequence the driver accepts writes a bypass TVE.
 */

function domainOf(fd: ReturnType<Machine['openIoasidFd']>, id: number): TceWindowDomain {
  return fd.ioasidObject(id).domain as TceWindowDomain;
}

function dmaFault(fn: () => unknown): FaultRecord {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DmaFault);
    return (e as DmaFault).record;
  }
  throw new Error('expected a DmaFault');
}

/** The windows the TVT holds for `pe`, as GET_INFO would list them, with the tables they point at. */
function tvtWindows(m: Machine, pe: number): { range: IovaRange; table: bigint; raw: bigint }[] {
  const regs = m.iommu.registers();
  const out: { range: IovaRange; table: bigint; raw: bigint }[] = [];
  for (const sel of [0, 1]) {
    const raw = regs[`TVT[${2 * pe + sel}]`];
    if (raw === undefined) continue;
    const t = decodeTve(raw);
    if (!t.valid) continue;
    const start = sel ? DDW : 0n;
    out.push({ range: { start, last: start + (1n << BigInt(t.windowShift)) - 1n }, table: t.tableAddr, raw });
  }
  return out;
}

describe('the TVT holds exactly the windows of the attached IOASID', () => {
  it('moving from a default-window IOASID to a DDW-only one: TVE 2·PE is removed, a DMA below 2 GiB is TVE_INVALID', () => {
    const { m, iommu } = powerMachine();
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd);
    const a = fd.alloc({ protocol: 'map' });
    dev.attachIoasid(a);
    const va = m.vmm.mmap(4n * KiB);
    m.vmm.write(va, bytes(0x42));
    fd.mapDma({ ioasid: a, iova: 0x1000n, vaddr: va, size: 4n * KiB });
    expect([...dev.dmaRead(0x1000n, 1)]).toEqual([0x42]);
    expect(iommu.unit.tceCache.entries(510)).toBe(1);
    dev.detachIoasid(a);
    const b = fd.alloc({ protocol: 'map', window: { pageSize: 4n * KiB, size: 1n << 32n } });
    dev.attachIoasid(b);
    expect(m.iommu.registers()['TVT[1020]']).toBeUndefined();
    expect(iommu.unit.tceCache.entries(510)).toBe(0); // the window's removal killed the PE's TCEs
    expect(dmaFault(() => dev.dmaRead(0x1000n, 1))).toMatchObject({ name: 'TVE_INVALID', tve: 1020, tveValue: 0n });
    dev.reset();
    const ddw = { start: DDW, last: DDW + (1n << 32n) - 1n };
    expect(fd.getInfo(b).permittedRanges).toEqual([ddw]);
    expect(tvtWindows(m, 510).map((w) => w.range)).toEqual([ddw]);
    // Detaching the last device: the kernel's (empty) default window comes back, the DDW goes.
    dev.detachIoasid(b);
    const idle = tvtWindows(m, 510);
    expect(idle.map((w) => w.range)).toEqual([{ start: 0n, last: 2n * GiB - 1n }]);
    expect(idle[0].table).not.toBe(domainOf(fd, a).tableAddr);
    expect(dmaFault(() => dev.dmaRead(0x1000n, 1)).name).toBe('TCE_INVALID');
  });

  it('an IOASID with both windows (defaultWindow: true beside window): GET_INFO, TVT, MAP, DMA, DUMP, FREE', () => {
    const { m } = powerMachine();
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd);
    const before = m.hostMemory.kernelFramesInUse;
    const id = fd.alloc({ protocol: 'map', window: { pageSize: 4n * KiB, size: 1n << 36n }, defaultWindow: true });
    const dom = domainOf(fd, id);
    expect(dom.windows.map((w) => w.select)).toEqual([0, 1]);
    dev.attachIoasid(id);
    const ranges = [{ start: 0n, last: 2n * GiB - 1n }, { start: DDW, last: DDW + (1n << 36n) - 1n }];
    expect(fd.getInfo(id).permittedRanges).toEqual(ranges);
    expect(fd.getInfo(id).pageSizes).toEqual([4n * KiB]);
    const tvt = tvtWindows(m, 510);
    expect(tvt.map((w) => w.range)).toEqual(ranges);
    expect(tvt.map((w) => w.table)).toEqual(dom.windows.map((w) => w.tableAddr));
    const va = m.vmm.mmap(8n * KiB);
    m.vmm.write(va, bytes(1));
    m.vmm.write(va + 4096n, bytes(2));
    fd.mapDma({ ioasid: id, iova: 0x2000n, vaddr: va, size: 4n * KiB });
    fd.mapDma({ ioasid: id, iova: DDW + 0x3000n, vaddr: va + 4096n, size: 4n * KiB });
    expect([...dev.dmaRead(0x2000n, 1)]).toEqual([1]);
    expect([...dev.dmaRead(DDW + 0x3000n, 1)]).toEqual([2]);
    expect(fd.lookup(id, DDW + 0x3000n).output).not.toBeNull();
    const d = fd.dumpPgtable(id);
    expect(d.inputBase).toBe(0n);
    expect(d.root!.entries).toHaveLength(1);
    expect(d.children).toHaveLength(1);
    expect(d.children![0].inputBase).toBe(DDW);
    expect(d.context?.['TVT[1020]']).toMatchObject({ tableAddr: dom.windows[0].tableAddr });
    expect(d.children![0].context?.['TVT[1021]']).toMatchObject({ tableAddr: dom.windows[1].tableAddr });
    expect(fd.unmapDma({ ioasid: id, iova: DDW + 0x3000n, size: 4n * KiB })).toBe(4n * KiB);
    expect(dmaFault(() => dev.dmaRead(DDW + 0x3000n, 1)).name).toBe('TCE_INVALID');
    dev.reset();
    fd.unmapDma({ ioasid: id, iova: 0x2000n, size: 4n * KiB });
    dev.detachIoasid(id);
    fd.free(id);
    expect(m.hostMemory.kernelFramesInUse).toBe(before);
  });

  it('defaultWindow must be a boolean, and an IOASID needs at least one window (EINVAL, nothing allocated)', () => {
    const { m } = powerMachine();
    const fd = m.openIoasidFd();
    const frames = m.hostMemory.framesInUse;
    for (const v of [1, 'yes', null, {}, 0n]) expectErrno(() => fd.alloc({ protocol: 'map', defaultWindow: v } as never), 'EINVAL', /defaultWindow/);
    expectErrno(() => fd.alloc({ protocol: 'map', defaultWindow: false }), 'EINVAL', /no DMA window/);
    expect(m.hostMemory.framesInUse).toBe(frames);
    expect(fd.describe().ioasids).toEqual([]);
    const id = fd.alloc({ protocol: 'map', defaultWindow: true });
    expect(domainOf(fd, id).windows.map((w) => w.select)).toEqual([0]);
  });
});

// ---- the property ----------------------------------------------------------------------------

type Kind = 'default' | 'ddw' | 'both';
type Op =
  | { op: 'alloc'; kind: Kind; ddwShift: number }
  | { op: 'attach'; dev: number; slot: number }
  | { op: 'detach'; dev: number }
  | { op: 'free'; slot: number }
  | { op: 'map'; slot: number; ddw: boolean }
  | { op: 'bind'; dev: number }
  | { op: 'unbind'; dev: number };

/** Four devices: a and b share IOMMU group 1 (one PE), c and d are alone. */
const DEVICES = [
  { name: 'a', group: 1 },
  { name: 'b', group: 1 },
  { name: 'c', group: 2 },
  { name: 'd', group: 3 },
];

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('alloc' as const), kind: fc.constantFrom<Kind>('default', 'ddw', 'both'), ddwShift: fc.constantFrom(32, 40) }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('attach' as const), dev: fc.nat(3), slot: fc.nat(7) }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('detach' as const), dev: fc.nat(3) }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('free' as const), slot: fc.nat(7) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('map' as const), slot: fc.nat(7), ddw: fc.boolean() }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('bind' as const), dev: fc.nat(3) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('unbind' as const), dev: fc.nat(3) }), weight: 1 },
);

/** Bus addresses probed on every device after every step: each side of each window's edges. */
const PROBES = [0n, 2n * GiB - 4096n, 2n * GiB, DDW, DDW + (1n << 32n) - 4096n, DDW + (1n << 32n), DDW + (1n << 40n)];

class Model {
  readonly m: Machine;
  readonly iommu: PowerNvIommu;
  readonly fd: ReturnType<Machine['openIoasidFd']>;
  readonly ids: number[] = [];
  private readonly page: bigint;

  constructor() {
    const { m, iommu } = powerMachine({ devices: DEVICES });
    this.m = m;
    this.iommu = iommu;
    this.fd = m.openIoasidFd();
    for (const d of DEVICES) m.device(d.name).bindIoasidFd(this.fd);
    this.page = m.vmm.mmap(4n * KiB);
    m.vmm.write(this.page, bytes(0x5a));
  }

  private dev(i: number) {
    return this.m.device(DEVICES[i].name);
  }

  private slot(i: number): number | undefined {
    return this.ids.length ? this.ids[i % this.ids.length] : undefined;
  }

  /** The IOASID a device's RID routes to, if any. */
  attachedTo(i: number): number | undefined {
    const name = DEVICES[i].name;
    return this.fd.describe().ioasids.find((o) => o.attachments.some((a) => a.device === name))?.id;
  }

  apply(o: Op): void {
    const { fd } = this;
    switch (o.op) {
      case 'alloc': {
        const window = { pageSize: 4n * KiB, size: 1n << BigInt(o.ddwShift) };
        const args = o.kind === 'default' ? {} : o.kind === 'ddw' ? { window } : { window, defaultWindow: true };
        this.ids.push(fd.alloc({ protocol: 'map', ...args }));
        return;
      }
      case 'attach': {
        const id = this.slot(o.slot);
        if (id !== undefined) this.dev(o.dev).attachIoasid(id);
        return;
      }
      case 'detach': {
        const id = this.attachedTo(o.dev);
        if (id !== undefined) this.dev(o.dev).detachIoasid(id);
        return;
      }
      case 'free': {
        const id = this.slot(o.slot);
        if (id === undefined) return;
        fd.free(id);
        this.ids.splice(this.ids.indexOf(id), 1);
        return;
      }
      case 'map': {
        const id = this.slot(o.slot);
        if (id === undefined) return;
        const iova = o.ddw ? DDW : 0n;
        fd.mapDma({ ioasid: id, iova, vaddr: this.page, size: 4n * KiB });
        return;
      }
      case 'bind':
        if (!this.dev(o.dev).fd) this.dev(o.dev).bindIoasidFd(fd);
        return;
      case 'unbind':
        if (this.dev(o.dev).fd) this.dev(o.dev).unbindIoasidFd();
        return;
    }
  }

  /** The invariants after a step (see the file comment). */
  check(): void {
    const { m, fd, iommu } = this;
    const regs = m.iommu.registers();
    for (const [k, v] of Object.entries(regs)) {
      if (k.startsWith('TVT[')) expect(decodeTve(v).bypass, `${k} = 0x${v.toString(16)} is a bypass TVE`).toBe(false);
    }
    const owner = new Map<bigint, number>();
    for (const id of this.ids) for (const w of domainOf(fd, id).windows) owner.set(w.tableAddr, id);
    for (const id of this.ids) {
      const devs = DEVICES.map((_, i) => i).filter((i) => this.attachedTo(i) === id);
      const info = fd.getInfo(id);
      if (devs.length === 0) {
        expect(info.permittedRanges).toEqual([]);
        continue;
      }
      const windows = domainOf(fd, id).windows;
      for (const i of devs) {
        const tvt = tvtWindows(m, iommu.peOf(this.dev(i).desc)!);
        expect(info.permittedRanges, `GET_INFO of IOASID ${id} vs the TVT of ${DEVICES[i].name}'s PE`).toEqual(tvt.map((w) => w.range));
        expect(tvt.map((w) => w.table)).toEqual(windows.map((w) => w.tableAddr));
      }
    }
    for (let i = 0; i < DEVICES.length; i++) {
      const dev = this.dev(i);
      const pe = iommu.peOf(dev.desc);
      const tvt = pe === undefined ? [] : tvtWindows(m, pe);
      const peAttached = DEVICES.some((_, j) => this.attachedTo(j) !== undefined && iommu.peOf(this.dev(j).desc) === pe);
      if (pe !== undefined && !peAttached) {
        // Bound, no device of the PE attached: the kernel's default window alone, pointing at no IOASID's table.
        expect(tvt.map((w) => w.range)).toEqual([{ start: 0n, last: 2n * GiB - 1n }]);
        expect(owner.has(tvt[0].table)).toBe(false);
      }
      for (const iova of PROBES) this.probe(i, pe, tvt, owner, iova);
    }
  }

  /** One DMA read: the result the valid windows of the device's PE predict. */
  private probe(i: number, pe: number | undefined, tvt: ReturnType<typeof tvtWindows>, owner: Map<bigint, number>, iova: bigint): void {
    const dev = this.dev(i);
    let got: number[] | FaultRecord;
    try {
      got = [...dev.dmaRead(iova, 1)];
    } catch (e) {
      if (!(e instanceof DmaFault)) throw e;
      got = e.record;
      if (pe !== undefined) dev.reset();
    }
    const where = `${DEVICES[i].name} DMA at 0x${iova.toString(16)}`;
    if (pe === undefined) {
      expect(got, where).toMatchObject({ name: 'NO_PE' });
      return;
    }
    const sel = iova >= DDW ? 1 : 0;
    const w = tvt.find((x) => (x.range.start === DDW ? 1 : 0) === sel);
    if (!w) {
      expect(got, where).toMatchObject({ name: 'TVE_INVALID', tve: 2 * pe + sel });
      return;
    }
    if (iova > w.range.last) {
      expect(got, where).toMatchObject({ name: 'OUT_OF_WINDOW' });
      return;
    }
    const id = owner.get(w.table);
    const mapped = id !== undefined && this.fd.lookup(id, iova).output !== null;
    if (mapped) expect(got, where).toEqual([0x5a]);
    else expect(got, where).toMatchObject({ name: 'TCE_INVALID' });
  }
}

describe('property: after every alloc / attach / detach / free / map / bind / unbind, GET_INFO is the TVT', () => {
  it('over random sequences with two groups of one device and a group of two', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 30 }), (ops) => {
        const model = new Model();
        model.check();
        for (const o of ops) {
          try {
            model.apply(o);
          } catch (e) {
            // Refusals the uAPI makes (EBUSY for a FREE with devices attached, EINVAL for a split
            // group or a map outside the windows, EEXIST for a map twice …) are fine; nothing else is.
            if (!(e instanceof IoasidError)) throw e;
          }
          model.check();
        }
      }),
      { numRuns: 60 },
    );
  });
});
