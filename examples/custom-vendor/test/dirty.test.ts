/**
 * Dirty tracking on the flat IOMMU: where its bits are, what the unit writes in memory (and what
 * it must not), the uAPI end to end, and the conformance kit's case with CAP.DL on and off.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from '@ioasid/core';
import { runConformance } from '@ioasid/conformance';
import {
  CAP_DL,
  CTX_DT,
  EMPTY_CONTEXT,
  FLAT_D,
  INV_IOTLB_DOMAIN,
  TT_NESTED,
  TT_S2,
  bytesToQwords,
  decodeCap,
  decodeContext,
  decodeHostPasidEntry,
  encodeCap,
  encodeContext,
  encodeFlatEntry,
  encodeHostPasidEntry,
  flatFormat,
  invCommand,
} from '@ioasid-example/flat-iommu';

const PAGE = 0x1000n;
const IOVA = 0x10000n;
const PAGES = 8n;

function setBits(b: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < b.length * 8; i++) if (b[i >> 3] & (1 << (i & 7))) out.push(i);
  return out;
}

function setup(flat: Record<string, unknown> = {}) {
  const m = createMachine({ vendor: 'flat-iommu', flat, devices: [{ name: 'nic' }] });
  const fd = m.openIoasidFd();
  const nic = m.device('nic');
  nic.bindIoasidFd(fd, { label: 'nic' });
  const ioasid = fd.alloc({ protocol: 'map' });
  nic.attachIoasid(ioasid);
  const va = m.vmm.mmap(PAGES * PAGE);
  fd.mapDma({ ioasid, iova: IOVA, vaddr: va, size: PAGES * PAGE });
  const ctxAddr = (m.iommu.registers().CTX_BASE & ~0xfffn) + BigInt(nic.rid * 32);
  const context = () => decodeContext(bytesToQwords(m.hostMemory.read(ctxAddr, 32)))!;
  /** The raw stage-2 entry of IOVA page `page` (counted from IOVA), read from memory. */
  const pte = (page: bigint) => bytesToQwords(m.hostMemory.read(BigInt(context().s2Root) * 4096n + ((IOVA >> 12n) + page) * 8n, 8))[0];
  const hw = (m.driver as unknown as { hw: { write(r: string, v: bigint): void } }).hw;
  const bitmap = (noClear = false) => setBits(fd.getDirtyBitmap({ ioasid, iova: IOVA, size: PAGES * PAGE, pageSize: PAGE, noClear }));
  return { m, fd, nic, ioasid, va, ctxAddr, context, pte, hw, bitmap };
}

describe('bit positions', () => {
  it('flat entry: D is bit 6, one of the software-ignored bits 11:3', () => {
    expect(FLAT_D).toBe(1 << 6);
    expect(BigInt(FLAT_D) & 0xff8n).toBe(BigInt(FLAT_D));
    const fmt = flatFormat(32);
    const w = new Uint32Array(2);
    fmt.setLeaf(w, 0, 0, 0x123456, 3);
    expect(fmt.dirty!(w, 0, 0)).toBe(false); // a new leaf starts clean
    w[0] |= FLAT_D;
    expect((BigInt(w[1]) << 32n) | BigInt(w[0])).toBe(encodeFlatEntry(0x123456000n, true, true) | 0x40n);
    expect(fmt.dirty!(w, 0, 0)).toBe(true);
    expect(fmt.decode(w[0], w[1], 0)).toMatchObject({ kind: 'leaf', addr: 0x123456000n, fields: { V: true, R: true, W: true, D: true } });
    fmt.clearDirty!(w, 0, 0);
    expect((BigInt(w[1]) << 32n) | BigInt(w[0])).toBe(0x123456007n); // only D changed
    expect(fmt.dirty!(w, 0, 0)).toBe(false);
    expect(fmt.dirty!(new Uint32Array([FLAT_D, 0]), 0, 0)).toBe(false); // not a leaf without V
  });

  it('context and host PASID entries: DT is q0 bit 4', () => {
    expect(CTX_DT).toBe(1n << 4n);
    const e = { ...EMPTY_CONTEXT, valid: true, tt: TT_S2, s2Root: 0x1000, did: 5 };
    expect(encodeContext(e)[0]).toBe(0x1000003n);
    expect(encodeContext({ ...e, dt: true })[0]).toBe(0x1000013n);
    expect(decodeContext(encodeContext({ ...e, dt: true }))).toMatchObject({ valid: true, dt: true, s2Root: 0x1000 });
    expect(decodeContext(encodeContext(e))!.dt).toBe(false);
    expect(encodeHostPasidEntry({ ...e, dt: true })[0]).toBe(0x1000013n);
    expect(decodeHostPasidEntry(encodeHostPasidEntry({ ...e, dt: true }))).toMatchObject({ dt: true });
    expect(decodeContext([0x1000003n | (1n << 5n), 0n, 0n, 5n])).toBeNull(); // bit 5 stays reserved
  });

  it('CAP: DL is bit 27, on by default, and GET_INFO says dirtyTracking from it', () => {
    expect(CAP_DL).toBe(1n << 27n);
    const base = { s2Bits: 32, s1MaxBits: 22, pasidBits: 8, pri: true, pasidTables: true, enqcmd: true };
    expect(encodeCap({ ...base, dirty: true }) ^ encodeCap({ ...base, dirty: false })).toBe(CAP_DL);
    const on = setup();
    expect(decodeCap(on.m.iommu.registers().CAP).dirty).toBe(true);
    expect(on.nic.getInfo().dirtyTracking).toBe(true);
    expect(on.fd.getInfo(on.ioasid).dirtyTracking).toBe(true);
    const off = setup({ dirtyTracking: false });
    expect(off.m.iommu.registers().CAP & CAP_DL).toBe(0n);
    expect(off.nic.getInfo().dirtyTracking).toBe(false);
    expect(off.fd.getInfo(off.ioasid).dirtyTracking).toBe(false);
    expect(() => off.fd.setDirtyTracking({ ioasid: off.ioasid, enable: true })).toThrow(/EOPNOTSUPP|does not log/);
  });
});

describe('the unit logs writes in memory', () => {
  it('SET_DIRTY_TRACKING writes DT in the context entry, and only then does a write set D', () => {
    const { fd, nic, ioasid, context, pte } = setup();
    expect(context().dt).toBe(false);
    nic.dmaWrite(IOVA, new Uint8Array([1]));
    expect(pte(0n) & BigInt(FLAT_D)).toBe(0n); // tracking off: nothing logged
    fd.setDirtyTracking({ ioasid, enable: true });
    expect(context()).toMatchObject({ valid: true, tt: TT_S2, dt: true });
    nic.dmaWrite(IOVA + PAGE + 5n, new Uint8Array([2]));
    expect(pte(1n) & BigInt(FLAT_D)).toBe(BigInt(FLAT_D));
    expect(pte(0n) & BigInt(FLAT_D)).toBe(0n); // only the entry the walk read
    expect(pte(2n) & BigInt(FLAT_D)).toBe(0n);
    fd.setDirtyTracking({ ioasid, enable: false });
    expect(context().dt).toBe(false);
  });

  it('a read never sets D', () => {
    const { fd, nic, ioasid, pte } = setup();
    fd.setDirtyTracking({ ioasid, enable: true });
    for (let p = 0n; p < PAGES; p++) nic.dmaRead(IOVA + p * PAGE, 8);
    for (let p = 0n; p < PAGES; p++) expect(pte(p) & BigInt(FLAT_D)).toBe(0n);
  });

  it('a translation the IOTLB holds from a read does not let a later write skip D', () => {
    const { fd, nic, ioasid, pte } = setup();
    nic.dmaWrite(IOVA + 3n * PAGE, new Uint8Array([1])); // cached before tracking was on
    fd.setDirtyTracking({ ioasid, enable: true });
    nic.dmaRead(IOVA + 4n * PAGE, 1); // cached with tracking on, by a read
    nic.dmaWrite(IOVA + 3n * PAGE, new Uint8Array([2]));
    nic.dmaWrite(IOVA + 4n * PAGE, new Uint8Array([3]));
    expect(pte(3n) & BigInt(FLAT_D)).toBe(BigInt(FLAT_D));
    expect(pte(4n) & BigInt(FLAT_D)).toBe(BigInt(FLAT_D));
  });

  it('the IOTLB remembers D: clearing it in memory without an IOTLB invalidation hides the next write', () => {
    const { m, fd, nic, ioasid, context, pte, hw } = setup();
    fd.setDirtyTracking({ ioasid, enable: true });
    nic.dmaWrite(IOVA, new Uint8Array([1]));
    const pa = context().s2Root * 4096 + Number(IOVA >> 12n) * 8;
    const clean = pte(0n) & ~BigInt(FLAT_D);
    m.hostMemory.write(pa, new Uint8Array(new BigUint64Array([clean]).buffer)); // behind the driver's back
    nic.dmaWrite(IOVA, new Uint8Array([2]));
    expect(pte(0n)).toBe(clean); // the IOTLB said D was set: no walk
    hw.write('INV_CMD', invCommand(INV_IOTLB_DOMAIN, context().did));
    nic.dmaWrite(IOVA, new Uint8Array([3]));
    expect(pte(0n)).toBe(clean | BigInt(FLAT_D));
  });

  it('a write the entry does not permit faults and sets nothing', () => {
    const { m, fd, nic, ioasid, pte } = setup();
    const va = m.vmm.mmap(PAGE);
    fd.mapDma({ ioasid, iova: 0x40000n, vaddr: va, size: PAGE, read: true, write: false });
    fd.setDirtyTracking({ ioasid, enable: true });
    expect(() => nic.dmaWrite(0x40000n, new Uint8Array([1]))).toThrow();
    nic.reset();
    const off = (0x40000n - IOVA) >> 12n;
    expect(pte(off) & BigInt(FLAT_D)).toBe(0n);
  });
});

describe('nested: the parent logs writes of its child', () => {
  it("a write through the guest's stage 1 sets D in the parent's stage-2 leaf, never in the guest's entry", () => {
    const m = createMachine({ vendor: 'flat-iommu', guestMemory: 4n << 20n, devices: [{ name: 'nic' }] });
    const fd = m.openIoasidFd();
    const nic = m.device('nic');
    nic.bindIoasidFd(fd, { label: 'nic' });
    const parent = fd.alloc({ protocol: 'map' });
    nic.attachIoasid(parent);
    fd.mapDma({ ioasid: parent, iova: 0n, vaddr: m.guest.vaddr, size: m.guest.size }); // IOVA = GPA
    const child = fd.createNesting({ parent, protocol: 'user-pgtable' });
    nic.attachIoasid(child);
    const format = { kind: 'flat-v1', inputBits: 22 } as const;
    const gt = m.guest.createPageTable(flatFormat(22));
    const data = BigInt(m.guest.allocFrames(1, 1)) * PAGE;
    gt.map(3n * PAGE, data, PAGE, { read: true, write: true });
    fd.bindPgtable({ ioasid: child, addr: gt.root, format });
    fd.setDirtyTracking({ ioasid: parent, enable: true });
    const ctxAddr = (m.iommu.registers().CTX_BASE & ~0xfffn) + BigInt(nic.rid * 32);
    expect(decodeContext(bytesToQwords(m.hostMemory.read(ctxAddr, 32)))).toMatchObject({ tt: TT_NESTED, dt: true });
    const all = { ioasid: parent, iova: 0n, size: m.guest.size, pageSize: PAGE };
    nic.dmaRead(3n * PAGE, 8);
    expect(setBits(fd.getDirtyBitmap({ ...all, noClear: true }))).toEqual([]); // neither the read nor the table fetch
    nic.dmaWrite(3n * PAGE + 8n, new Uint8Array([7]));
    expect(setBits(fd.getDirtyBitmap({ ...all, noClear: true }))).toEqual([Number(data / PAGE)]);
    const s1Entry = bytesToQwords(m.guest.read(gt.root + 3n * 8n, 8))[0];
    expect(s1Entry & BigInt(FLAT_D)).toBe(0n);
    expect(setBits(fd.getDirtyBitmap(all))).toEqual([Number(data / PAGE)]);
    nic.dmaWrite(3n * PAGE + 9n, new Uint8Array([8])); // the child's IOTLB entry went with the clear
    expect(setBits(fd.getDirtyBitmap(all))).toEqual([Number(data / PAGE)]);
  });
});

describe('SET_DIRTY_TRACKING / GET_DIRTY_BITMAP end to end', () => {
  it('noClear keeps, a clear empties, a new write after a clear is logged, disable stops', () => {
    const { fd, nic, ioasid, pte, bitmap } = setup();
    fd.setDirtyTracking({ ioasid, enable: true });
    expect(bitmap()).toEqual([]);
    nic.dmaRead(IOVA + 6n * PAGE, 4);
    for (const p of [1n, 2n, 7n]) nic.dmaWrite(IOVA + p * PAGE, new Uint8Array([Number(p)]));
    expect(bitmap(true)).toEqual([1, 2, 7]);
    expect(bitmap(true)).toEqual([1, 2, 7]); // noClear kept the bits in memory
    expect(pte(2n) & BigInt(FLAT_D)).toBe(BigInt(FLAT_D));
    expect(bitmap()).toEqual([1, 2, 7]);
    expect(pte(2n) & BigInt(FLAT_D)).toBe(0n); // cleared in memory
    expect(bitmap()).toEqual([]);
    nic.dmaWrite(IOVA + 2n * PAGE, new Uint8Array([9])); // was cached with D set: the clear flushed it
    nic.dmaWrite(IOVA + 2n * PAGE + 1n, new Uint8Array([9]));
    expect(bitmap()).toEqual([2]);
    fd.setDirtyTracking({ ioasid, enable: false });
    for (const p of [2n, 5n]) nic.dmaWrite(IOVA + p * PAGE, new Uint8Array([5])); // 2 is cached, 5 walks
    for (let p = 0n; p < PAGES; p++) expect(pte(p) & BigInt(FLAT_D)).toBe(0n);
    fd.setDirtyTracking({ ioasid, enable: true });
    expect(bitmap()).toEqual([]);
    nic.dmaWrite(IOVA + 5n * PAGE, new Uint8Array([6])); // logged again once re-enabled
    expect(bitmap(true)).toEqual([5]);
  });

  it('a range outside the 32-bit stage 2 harvests nothing', () => {
    const { fd, ioasid } = setup();
    fd.setDirtyTracking({ ioasid, enable: true });
    expect(setBits(fd.getDirtyBitmap({ ioasid, iova: 1n << 40n, size: 16n * PAGE, pageSize: PAGE }))).toEqual([]);
  });
});

describe('the conformance kit', () => {
  it('contract-dirty passes on flat-iommu', { timeout: 60_000 }, () => {
    const report = runConformance({ vendors: ['flat-iommu'], filter: (id) => id === 'contract-dirty' });
    expect(report.results.map((r) => [r.id, r.status, r.error ?? ''])).toEqual([['contract-dirty', 'pass', '']]);
  });

  it('contract-dirty is unsupported (and refused with EOPNOTSUPP) when CAP.DL is off', { timeout: 60_000 }, () => {
    const report = runConformance({ vendors: ['flat-iommu'], machineOptions: { flat: { dirtyTracking: false } }, filter: (id) => id === 'contract-dirty' || id === 'prop-dirty' });
    expect(report.results.map((r) => [r.id, r.status, r.error ?? ''])).toEqual([
      ['contract-dirty', 'unsupported', ''],
      ['prop-dirty', 'unsupported', ''],
    ]);
  });
});
