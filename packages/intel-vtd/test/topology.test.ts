import { describe, expect, it } from 'vitest';
import { DmaFault, type Device, type IoasidFd, type Machine } from '@ioasid/core';
import { bytes, expectErrno, vtdMachine } from './helpers.js';

/**
 * Issue 15, finding 2 on VT-d: an mdev's parent belongs to the host driver, and no device ever
 * reaches an address space through a PASID it was not given. A pdev can put any PASID on the
 * wire; what stops it are the tables: under its RID only the routes it was given.
 */

const SECRET = 0x40000n;

/** A page of `fill` bytes mapped at SECRET in `ioasid`. */
function secret(m: Machine, fd: IoasidFd, ioasid: number, fill: number): bigint {
  const va = m.vmm.mmap(0x1000n);
  m.vmm.write(va, new Uint8Array(16).fill(fill));
  fd.mapDma({ ioasid, iova: SECRET, vaddr: va, size: 0x1000n, read: true, write: true });
  return va;
}

function blocked(what: string, fn: () => unknown): void {
  let err: unknown;
  let got: unknown;
  try {
    got = fn();
  } catch (e) {
    err = e;
  }
  expect(err, `${what} must be blocked by the IOMMU, but it read ${got instanceof Uint8Array ? [...got.slice(0, 4)].join(',') : String(got)}`).toBeInstanceOf(DmaFault);
}

describe("an mdev's parent belongs to the host driver (VT-d)", () => {
  it('the finding: parent bound to fd1 and its mdev to fd2 is refused with EBUSY, in both orders and on either fd', () => {
    const { m } = vtdMachine({ devices: [{ name: 'pf' }, { name: 'm0', kind: 'mdev', parent: 'pf' }] });
    const pf = m.device('pf');
    const m0 = m.device('m0');
    const fd1 = m.openIoasidFd();
    const fd2 = m.openIoasidFd();
    // Parent first (RID only), then the mdev elsewhere.
    pf.bindIoasidFd(fd1);
    const a = fd1.alloc({ protocol: 'map' });
    pf.attachIoasid(a);
    expectErrno(() => m0.bindIoasidFd(fd2), 'EBUSY', /rides on pf/);
    expectErrno(() => m0.bindIoasidFd(fd1), 'EBUSY', /rides on pf/);
    pf.detachIoasid(a);
    pf.unbindIoasidFd();
    // The mdev first, with a kernel-allocated host PASID on pf's RID; then the parent.
    m0.bindIoasidFd(fd2);
    const b = fd2.alloc({ protocol: 'map' });
    m0.attachIoasid(b);
    secret(m, fd2, b, 0x5e);
    const host = m0.wire(undefined).pasid;
    expect(host).toBeGreaterThan(0);
    expect([...m0.dmaRead(SECRET, 2)]).toEqual([0x5e, 0x5e]);
    expectErrno(() => pf.bindIoasidFd(fd1), 'EBUSY', /parent of mdev m0, bound to another/);
    expectErrno(() => pf.bindIoasidFd(fd2), 'EBUSY', /parent of mdev m0, bound to this/);
    expect(pf.fd).toBeUndefined();
  });
});

describe('no device reaches an address space through a PASID it was not given (VT-d tables)', () => {
  function world() {
    const { m } = vtdMachine({
      devices: [
        { name: 'pf', rid: 0x08 },
        { name: 'pf2', rid: 0x10 },
        { name: 'm2', kind: 'mdev', parent: 'pf2' },
        { name: 'wq2', kind: 'mdev', parent: 'pf2', enqcmd: true },
        { name: 'dev3', rid: 0x18 },
      ],
    });
    const dev = (n: string): Device => m.device(n);
    const fd1 = m.openIoasidFd();
    const fd2 = m.openIoasidFd();
    const fd3 = m.openIoasidFd();
    // fd1: the pdev alone, its RID to an address space that does not map SECRET.
    dev('pf').bindIoasidFd(fd1);
    const a = fd1.alloc({ protocol: 'map' });
    dev('pf').attachIoasid(a);
    const va = m.vmm.mmap(0x1000n);
    fd1.mapDma({ ioasid: a, iova: 0x1000n, vaddr: va, size: 0x1000n, read: true, write: true });
    // fd2: two mdevs of pf2 on host PASIDs (one of them ENQCMD: a global PASID).
    dev('m2').bindIoasidFd(fd2);
    dev('wq2').bindIoasidFd(fd2);
    const b = fd2.alloc({ protocol: 'map' });
    dev('m2').attachIoasid(b);
    dev('wq2').attachIoasid(b);
    dev('m2').attachIoasid(b, { userPasid: 3 });
    secret(m, fd2, b, 0xb2);
    // fd3: a pdev with its RID and vPASIDs 1..4 (used as is on the wire).
    dev('dev3').bindIoasidFd(fd3);
    const c = fd3.alloc({ protocol: 'map' });
    dev('dev3').attachIoasid(c);
    for (let p = 1; p <= 4; p++) dev('dev3').attachIoasid(c, { userPasid: p });
    secret(m, fd3, c, 0xc3);
    return { m, dev, fd1, fd2, fd3, a, b, c };
  }

  it('a pdev bound alone cannot reach any other fd\'s PASID route, whatever PASID it puts on the wire', () => {
    const { m, dev } = world();
    const pf = dev('pf');
    const others = [dev('m2').wire(undefined).pasid, dev('m2').wire(3).pasid, dev('wq2').wire(undefined).pasid, 1, 2, 3, 4];
    // Host PASIDs (pf2's table) and dev3's vPASIDs (dev3's table) may share numbers: each table is per RID.
    expect(others.every((p) => p > 0)).toBe(true);
    const tried = new Set<number>([...others, ...Array.from({ length: 64 }, (_, i) => i), (1 << 20) - 1]);
    for (const pasid of tried) {
      blocked(`pf read with PASID ${pasid}`, () => pf.dmaRead(SECRET, 4, { pasid }));
      blocked(`pf write with PASID ${pasid}`, () => pf.dmaWrite(SECRET, bytes(0xee), { pasid }));
      pf.reset();
    }
    blocked('pf read without PASID', () => pf.dmaRead(SECRET, 4));
    // The routes it was not given still work for their owners, untouched by pf's writes.
    expect([...dev('m2').dmaRead(SECRET, 2)]).toEqual([0xb2, 0xb2]);
    expect([...dev('m2').dmaRead(SECRET, 2, { pasid: 3 })]).toEqual([0xb2, 0xb2]);
    expect([...dev('dev3').dmaRead(SECRET, 2, { pasid: 4 })]).toEqual([0xc3, 0xc3]);
    expect(m.kvm.hasMappings).toBe(false);
  });

  it('an mdev cannot choose a PASID: a vPASID it was not given is refused before the bus', () => {
    const { dev } = world();
    for (const pasid of [dev('wq2').wire(undefined).pasid, 1, 2, 4, 7]) {
      expectErrno(() => dev('m2').dmaRead(SECRET, 4, { pasid }), 'EINVAL', /no vPASID/);
    }
  });

  it('ENQCMD: a guest PASID KVM translates for one fd\'s IOASID does not carry another fd\'s work queue there', () => {
    const { m } = vtdMachine({
      devices: [
        { name: 'dsa', rid: 0x20 },
        { name: 'wq0', kind: 'mdev', parent: 'dsa', enqcmd: true },
        { name: 'wq1', kind: 'mdev', parent: 'dsa', enqcmd: true },
      ],
    });
    const wq0 = m.device('wq0');
    const wq1 = m.device('wq1');
    const fd1 = m.openIoasidFd();
    const fd2 = m.openIoasidFd();
    wq0.bindIoasidFd(fd1);
    wq1.bindIoasidFd(fd2);
    const a = fd1.alloc({ protocol: 'map' });
    const b = fd2.alloc({ protocol: 'map' });
    wq0.attachIoasid(a);
    wq1.attachIoasid(b);
    const vb = secret(m, fd2, b, 0x11);
    m.kvm.mapPasid({ guestPasid: 5, fd: fd2, ioasid: b });
    // The host PASID for b lives in the PASID table under dsa's RID, which wq0 shares.
    expectErrno(() => m.kvm.enqcmd(wq0, 5, { iova: SECRET, data: bytes(0xee, 0xee) }), 'EPERM', /not given to wq0/);
    expect([...m.vmm.read(vb, 2)]).toEqual([0x11, 0x11]);
    m.kvm.enqcmd(wq1, 5, { iova: SECRET, data: bytes(0x22, 0x22) });
    expect([...m.vmm.read(vb, 2)]).toEqual([0x22, 0x22]);
  });
});

describe('BIND_PGTABLE and CREATE_NESTING formats on VT-d', () => {
  it('a first-level format must have exactly the fields GET_INFO lists; CREATE_NESTING takes kind and levels only', () => {
    const { m, driver } = vtdMachine();
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd);
    const parent = fd.alloc({ protocol: 'map' });
    fd.mapDma({ ioasid: parent, iova: 0n, vaddr: m.guest.vaddr, size: m.guest.size, read: true, write: true });
    dev.attachIoasid(parent);
    expectErrno(() => fd.createNesting({ parent, protocol: 'user-pgtable', window: { pageSize: 4096n, size: 1n << 32n } }), 'EINVAL', /intel-vtd driver takes no format field 'window'.*kind, levels/);
    expectErrno(() => fd.alloc({ protocol: 'map', levels: 4 }), 'EINVAL', /field 'levels'.*takes none/);
    const child = fd.createNesting({ parent, protocol: 'user-pgtable', kind: 'vtd-first-level', levels: 4 });
    dev.attachIoasid(child, { userPasid: 2 });
    const gpt = m.guest.createPageTable(driver.guest.pageTableFormat({ kind: 'vtd-first-level', levels: 4 }));
    expectErrno(() => fd.bindPgtable({ ioasid: child, addr: gpt.root, format: { kind: 'vtd-first-level' } }), 'EINVAL', /format\.levels is missing/);
    expectErrno(() => fd.bindPgtable({ ioasid: child, addr: gpt.root, format: { kind: 'vtd-first-level', levels: 4, pasid: 2 } }), 'EINVAL', /format\.pasid is not a field/);
    expectErrno(() => fd.bindPgtable({ ioasid: child, addr: gpt.root, format: { kind: 'arm-lpae-s1', granule: 4096, ias: 48 } }), 'EINVAL', /kind 'arm-lpae-s1' is not among/);
    const format = { kind: 'vtd-first-level', levels: 4 };
    fd.bindPgtable({ ioasid: child, addr: gpt.root, format });
    format.levels = 5;
    expect(fd.describe().ioasids.find((o) => o.id === child)!.bound).toEqual({ addr: gpt.root, format: { kind: 'vtd-first-level', levels: 4 } });
  });
});
