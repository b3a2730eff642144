import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DmaFault, type Machine } from '@ioasid/core';
import { EVENT, STE_WORDS, decodeSte, encodeCd, guestCdTable, guestS1Cd, type SmmuV3Driver } from '../src/index.js';
import { catchFault, gpaSpace, guestData, open, smmuMachine } from './machine-helpers.js';

const S1 = { kind: 'arm-lpae-s1', granule: 4096, ias: 48 };

function steOf(drv: SmmuV3Driver, sid: number) {
  const at = drv.strtab.steAddr(sid);
  const w = new Uint32Array(STE_WORDS);
  for (let k = 0; k < STE_WORDS; k++) w[k] = drv.host.u32(at + 4 * k);
  return decodeSte(w);
}

/** Parent GPA space + a PASID-table child with dev0 attached. */
function setup(devName = 'dev0') {
  const { m, drv } = smmuMachine();
  const { fd, devs } = open(m, devName, 'dev2');
  const [dev, other] = devs;
  const parent = gpaSpace(m, fd, [dev, other]);
  const child = fd.createNesting({ parent, protocol: 'user-pasid-table' });
  dev.attachIoasid(child);
  return { m, drv, fd, dev, other, parent, child };
}

function guestTable(m: Machine) {
  return m.guest.createPageTable(m.driver.guest!.pageTableFormat(S1));
}

describe('5.7 BIND_PASID_TABLE: the guest CD table in guest memory', () => {
  for (const layout of ['linear', 'two-level'] as const) {
    it(`${layout}: the STE points at the guest table by GPA (nested); each PASID uses the page table its CD names`, () => {
      const { m, drv, fd, dev, other, child } = setup();
      const format = { kind: 'arm-smmuv3-cd', layout, s1cdmax: 12 };
      const t1 = guestTable(m);
      const t2 = guestTable(m);
      const a = guestData(m, 4096n, 1);
      const b = guestData(m, 4096n, 2);
      t1.map(0x10_0000n, a.gpa, 4096n);
      t2.map(0x10_0000n, b.gpa, 4096n);
      const table = m.driver.guest!.buildPasidTable!(m.guest, format, [
        { pasid: 0, root: t1.root, pgtable: S1 },
        { pasid: 1, root: t1.root, pgtable: S1 },
        { pasid: 2049, root: t2.root, pgtable: S1 },
      ]);
      fd.bindPasidTable({ ioasid: child, addr: table, format });
      const ste = steOf(drv, dev.rid);
      expect(ste).toMatchObject({ Config: 7, S1ContextPtr: Number(table), S1CDMax: 12, S1Fmt: layout === 'linear' ? 0 : 2, S1DSS: 2 });
      expect(ste.S2VMID).not.toBe(steOf(drv, other.rid).S2VMID); // the guest's ASIDs live in a VMID of their own
      expect(dev.dmaRead(0x10_0000n, 16)).toEqual(a.bytes.subarray(0, 16)); // no PASID: CD 0
      expect(dev.dmaRead(0x10_0000n, 16, { pasid: 1 })).toEqual(a.bytes.subarray(0, 16));
      expect(dev.dmaRead(0x10_0000n, 16, { pasid: 2049 })).toEqual(b.bytes.subarray(0, 16));
      expect(catchFault(() => dev.dmaRead(0x10_0000n, 4, { pasid: 5 }))).toMatchObject({ name: 'C_BAD_CD', pasid: 5 });
      expect(catchFault(() => dev.dmaRead(0x10_0000n, 4, { pasid: 4096 }))).toMatchObject({ name: 'C_BAD_SUBSTREAMID' });
      // dev2 is attached to the parent only.
      expect(other.dmaRead(a.gpa, 16)).toEqual(a.bytes.subarray(0, 16));
      // DUMP decodes the guest table: one child view per valid CD.
      const dump = fd.dumpPgtable(child);
      expect(dump.children!.map((c) => c.context!.SubstreamID)).toEqual([0, 1, 2049]);
      expect(fd.lookup(child, 0x10_0123n, { pasid: 2049 }).output).toBe(BigInt(m.vmm.region(m.guest.vaddr, 1n).frameOf(Number(b.gpa >> 12n))) * 4096n + 0x123n);
    });
  }

  it('INVALIDATE_CACHE {pasid, iova, size} → TLBI_NH_VA for the ASID the guest CD holds; stale until then', () => {
    const { m, drv, fd, dev, child } = setup();
    const format = { kind: 'arm-smmuv3-cd', layout: 'linear', s1cdmax: 4 };
    const t = guestTable(m);
    const a = guestData(m, 4096n, 1);
    const b = guestData(m, 4096n, 2);
    t.map(0x2000n, a.gpa, 4096n);
    const table = m.driver.guest!.buildPasidTable!(m.guest, format, [{ pasid: 3, root: t.root, pgtable: S1, asid: 77 }]);
    fd.bindPasidTable({ ioasid: child, addr: table, format });
    expect(dev.dmaRead(0x2000n, 8, { pasid: 3 })).toEqual(a.bytes.subarray(0, 8));
    t.unmap(0x2000n, 4096n);
    t.map(0x2000n, b.gpa, 4096n);
    expect(dev.dmaRead(0x2000n, 8, { pasid: 3 })).toEqual(a.bytes.subarray(0, 8)); // stale
    drv.cmdq.trace = [];
    fd.invalidateCache({ ioasid: child, pasid: 3, iova: 0x2000n, size: 0x1000n });
    expect(drv.cmdq.trace.find((c) => c.op === 'TLBI_NH_VA')!.fields).toMatchObject({ ASID: 77, VMID: steOf(drv, dev.rid).S2VMID, ADDR: 2 });
    expect(dev.dmaRead(0x2000n, 8, { pasid: 3 })).toEqual(b.bytes.subarray(0, 8));
  });

  it('a rewritten CD is used only after INVALIDATE_CACHE {all, pasid} (CFGI_CD) or {all} (CFGI_CD_ALL + TLBI_NH_ALL)', () => {
    const { m, drv, fd, dev, child } = setup();
    const format = { kind: 'arm-smmuv3-cd', layout: 'two-level', s1cdmax: 8 };
    const t1 = guestTable(m);
    const t2 = guestTable(m);
    const a = guestData(m, 4096n, 1);
    const b = guestData(m, 4096n, 2);
    t1.map(0x3000n, a.gpa, 4096n);
    t2.map(0x3000n, b.gpa, 4096n);
    const table = m.driver.guest!.buildPasidTable!(m.guest, format, [
      { pasid: 1, root: t1.root, pgtable: S1, asid: 1 },
      { pasid: 2, root: t1.root, pgtable: S1, asid: 2 },
    ]);
    fd.bindPasidTable({ ioasid: child, addr: table, format });
    expect(dev.dmaRead(0x3000n, 8, { pasid: 1 })).toEqual(a.bytes.subarray(0, 8));
    expect(dev.dmaRead(0x3000n, 8, { pasid: 2 })).toEqual(a.bytes.subarray(0, 8));
    m.driver.guest!.updatePasidEntry!(m.guest, table, format, { pasid: 1, root: t2.root, pgtable: S1, asid: 11 });
    m.driver.guest!.updatePasidEntry!(m.guest, table, format, { pasid: 2, root: t2.root, pgtable: S1, asid: 12 });
    expect(dev.dmaRead(0x3000n, 8, { pasid: 1 })).toEqual(a.bytes.subarray(0, 8)); // cached CD
    fd.invalidateCache({ ioasid: child, all: true, pasid: 1 });
    expect(dev.dmaRead(0x3000n, 8, { pasid: 1 })).toEqual(b.bytes.subarray(0, 8));
    expect(dev.dmaRead(0x3000n, 8, { pasid: 2 })).toEqual(a.bytes.subarray(0, 8)); // still the old CD
    const n = { cd: drv.cmdq.count('CFGI_CD_ALL'), nh: drv.cmdq.count('TLBI_NH_ALL') };
    fd.invalidateCache({ ioasid: child, all: true });
    expect(drv.cmdq.count('CFGI_CD_ALL')).toBe(n.cd + 1);
    expect(drv.cmdq.count('TLBI_NH_ALL')).toBe(n.nh + 1);
    expect(dev.dmaRead(0x3000n, 8, { pasid: 2 })).toEqual(b.bytes.subarray(0, 8));
    m.driver.guest!.updatePasidEntry!(m.guest, table, format, { pasid: 2 });
    fd.invalidateCache({ ioasid: child, all: true });
    expect(catchFault(() => dev.dmaRead(0x3000n, 8, { pasid: 2 }))).toMatchObject({ name: 'C_BAD_CD' });
  });

  it('BIND_PASID_TABLE validates its format against GET_INFO', () => {
    const { m, fd, child } = setup();
    const ok = { kind: 'arm-smmuv3-cd', layout: 'linear', s1cdmax: 2 };
    const t = guestCdTable(m.guest, 'linear', 2);
    for (const [bad, re] of [
      [{ ...ok, kind: 'vtd-pasid' }, /kind/],
      [{ ...ok, layout: 'three-level' }, /layout/],
      [{ ...ok, s1cdmax: 21 }, /s1cdmax/],
    ] as const) {
      expect(() => fd.bindPasidTable({ ioasid: child, addr: BigInt(t.addr), format: bad })).toThrow(re);
    }
    expect(() => fd.bindPasidTable({ ioasid: child, addr: BigInt(t.addr) + 0x20n, format: ok })).toThrow(/64-byte/);
  });

  it('detach returns the RID to the parent (stage 2 STE)', () => {
    const { m, drv, fd, dev, child } = setup();
    const format = { kind: 'arm-smmuv3-cd', layout: 'linear', s1cdmax: 0 };
    const table = m.driver.guest!.buildPasidTable!(m.guest, format, []);
    fd.bindPasidTable({ ioasid: child, addr: table, format });
    expect(steOf(drv, dev.rid).Config).toBe(7);
    dev.detachIoasid(child);
    expect(steOf(drv, dev.rid).Config).toBe(6);
    fd.free(child);
  });
});

describe('hostile guest CD tables produce events, never exceptions', () => {
  function bound(ctxGpa: bigint, layout: 'linear' | 'two-level', s1cdmax: number) {
    const env = setup();
    env.fd.bindPasidTable({ ioasid: env.child, addr: ctxGpa, format: { kind: 'arm-smmuv3-cd', layout, s1cdmax } });
    return env;
  }

  it('a CD table outside guest RAM: stage 2 fault of class CD', () => {
    const { dev } = bound(0x4000_0000n, 'linear', 4);
    expect(catchFault(() => dev.dmaRead(0x1000n, 4, { pasid: 1 }))).toMatchObject({ name: 'F_TRANSLATION', s2: true, class: 'CD', ipa: 0x4000_0040n });
  });

  it('a CD table inside the MSI hole (not mapped by the parent): stage 2 fault of class CD', () => {
    const { dev } = bound(0x800_0000n, 'linear', 4);
    expect(catchFault(() => dev.dmaRead(0x1000n, 4))).toMatchObject({ name: 'F_TRANSLATION', s2: true, class: 'CD' });
  });

  it('an L1CD pointing outside guest RAM, and an invalid L1CD', () => {
    const env = setup();
    const l1 = env.m.guest.allocPages(4096n);
    const d = new Uint8Array(16);
    new DataView(d.buffer).setBigUint64(0, 0x7000_0000n | 1n, true); // leaf table at GPA 1.75 GiB
    env.m.guest.write(l1, d);
    env.fd.bindPasidTable({ ioasid: env.child, addr: l1, format: { kind: 'arm-smmuv3-cd', layout: 'two-level', s1cdmax: 11 } });
    expect(catchFault(() => env.dev.dmaRead(0x1000n, 4, { pasid: 3 }))).toMatchObject({ name: 'F_TRANSLATION', s2: true, class: 'CD', ipa: 0x7000_00c0n });
    expect(catchFault(() => env.dev.dmaRead(0x1000n, 4, { pasid: 1024 }))).toMatchObject({ name: 'C_BAD_SUBSTREAMID' });
  });

  it('reserved fields and illegal values in a guest CD: C_BAD_CD', () => {
    const env = setup();
    const t = guestCdTable(env.m.guest, 'linear', 3);
    const ttb = guestTable(env.m).root;
    const good = guestS1Cd({ ttb0: ttb, granule: 4096, ias: 48, asid: 1 });
    t.write(1, good);
    const bad: Record<string, number>[] = [{ TG0: 3 }, { T0SZ: 60 }, { IPS: 7 }, { AA64: 0 }, { A: 0 }, { ENDI: 1 }, { V: 0 }];
    bad.forEach((f, i) => t.write(2 + (i % 6), encodeCd({ T0SZ: 16, V: 1, AA64: 1, A: 1, R: 1, IPS: 5, ASID: 9, TTB0: Number(ttb), ...f })));
    env.fd.bindPasidTable({ ioasid: env.child, addr: BigInt(t.addr), format: { kind: 'arm-smmuv3-cd', layout: 'linear', s1cdmax: 3 } });
    expect(() => env.dev.dmaRead(0x1000n, 4, { pasid: 1 })).toThrow(DmaFault); // valid CD, unmapped GVA
    for (let ssid = 2; ssid < 8; ssid++) expect(catchFault(() => env.dev.dmaRead(0x1000n, 4, { pasid: ssid }))).toMatchObject({ name: 'C_BAD_CD' });
  });

  it('a TTB0 outside guest RAM: stage 2 fault of class TT while walking stage 1', () => {
    const env = setup();
    const t = guestCdTable(env.m.guest, 'linear', 1);
    t.write(1, guestS1Cd({ ttb0: 0x9000_0000n, granule: 4096, ias: 48, asid: 1 }));
    env.fd.bindPasidTable({ ioasid: env.child, addr: BigInt(t.addr), format: { kind: 'arm-smmuv3-cd', layout: 'linear', s1cdmax: 1 } });
    expect(catchFault(() => env.dev.dmaRead(0x1000n, 4, { pasid: 1 }))).toMatchObject({ name: 'F_TRANSLATION', s2: true, class: 'TT' });
  });

  it('random guest memory under the CD table pointer: only DmaFault with an SMMU event, never another exception (fast-check)', () => {
    const env = setup();
    const base = env.m.guest.allocPages(16n * 4096n);
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 64, maxLength: 2048 }),
        fc.constantFrom('linear', 'two-level'),
        fc.integer({ min: 0, max: 20 }),
        fc.array(fc.tuple(fc.integer({ min: -1, max: 4096 }), fc.bigInt({ min: 0n, max: (1n << 48n) - 1n })), { minLength: 1, maxLength: 8 }),
        (bytes, layout, s1cdmax, dmas) => {
          env.m.guest.write(base, bytes);
          env.fd.bindPasidTable({ ioasid: env.child, addr: base, format: { kind: 'arm-smmuv3-cd', layout, s1cdmax } });
          env.fd.invalidateCache({ ioasid: env.child, all: true });
          for (const [pasid, iova] of dmas) {
            try {
              env.dev.dmaRead(iova & ~0xfffn, 8, pasid < 0 ? {} : { pasid });
            } catch (e) {
              expect(e).toBeInstanceOf(DmaFault);
              const name = (e as DmaFault).record.name;
              expect(name === 'ABORT' || name in EVENT).toBe(true);
            }
          }
          env.fd.readFaults(env.child);
        },
      ),
      { numRuns: 40 },
    );
  });
});
