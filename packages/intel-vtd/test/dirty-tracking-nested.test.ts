/**
 * Dirty tracking of a kernel-managed parent under hardware nesting and with ATS (issue 20):
 * SSADE reaches the nested children's PASID entries (Linux parent_domain_set_dirty_tracking,
 * intel_pasid_setup_nested), the second-stage D logs every write to guest RAM, including the
 * unit's own A/D updates of the guest's first-stage tables; a device-TLB filled by a read does
 * not let a write skip the unit.
 */
import { describe, expect, it } from 'vitest';
import { PE_PGTT, PE_SLADE, PGTT_NESTED, type VtdDriver } from '../src/index.js';
import { bytes, MiB, qwordAt, vtdMachine } from './helpers.js';

const PAGE = 4096n;
const BLOCK = 2n * MiB;

function setBits(b: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < b.length * 8; i++) if (b[i >> 3] & (1 << (i & 7))) out.push(i);
  return out;
}

const field = (q0: bigint, f: { lsb: number; width: number }) => Number((q0 >> BigInt(f.lsb)) & ((1n << BigInt(f.width)) - 1n));

function nested() {
  const { m, driver } = vtdMachine({ devices: [{ name: 'nd', rid: 0x08 }] });
  const fd = m.openIoasidFd();
  const nd = m.device('nd');
  nd.bindIoasidFd(fd, { label: 'nd' });
  const parent = fd.alloc({ protocol: 'map' });
  fd.mapDma({ ioasid: parent, iova: 0n, vaddr: m.guest.vaddr, size: m.guest.size });
  nd.attachIoasid(parent);
  const child = fd.createNesting({ parent, protocol: 'user-pgtable' });
  nd.attachIoasid(child);
  const child7 = fd.createNesting({ parent, protocol: 'user-pgtable' });
  nd.attachIoasid(child7, { userPasid: 7 });
  const format = { kind: 'vtd-first-level', levels: 4 };
  const gpt = m.guest.createPageTable(driver.guest.pageTableFormat(format));
  const buf = m.guest.allocPages(0x2000n);
  gpt.map(0x40000n, buf, 0x2000n);
  fd.bindPgtable({ ioasid: child, addr: gpt.root, format });
  fd.bindPgtable({ ioasid: child7, addr: gpt.root, format });
  // Guest RAM is mapped with 2 MiB leaves: D is per leaf, so the bitmap is read at that granularity.
  const dirtyGpas = (noClear = false) => setBits(fd.getDirtyBitmap({ ioasid: parent, iova: 0n, size: m.guest.size, pageSize: BLOCK, noClear })).map((b) => BigInt(b) * BLOCK);
  return { m, driver: driver as VtdDriver, fd, nd, parent, gpt, buf, dirtyGpas };
}

describe('dirty tracking under hardware nesting', () => {
  it('SSADE is set in the nested (PGTT = 011b) PASID entries of the children, RID_PASID and PASID 7', () => {
    const { driver, fd, parent } = nested();
    fd.setDirtyTracking({ ioasid: parent, enable: true });
    for (const pasid of [0, 7]) {
      const q0 = qwordAt(driver.host, driver.tables.pasidEntryAddr(0x08, pasid, false)!);
      expect(field(q0, PE_PGTT), `PASID ${pasid}`).toBe(PGTT_NESTED);
      expect(field(q0, PE_SLADE), `PASID ${pasid}`).toBe(1);
    }
    fd.setDirtyTracking({ ioasid: parent, enable: false });
    for (const pasid of [0, 7]) expect(field(qwordAt(driver.host, driver.tables.pasidEntryAddr(0x08, pasid, false)!), PE_SLADE)).toBe(0);
  });

  it('a nested write dirties the guest page it reached and the guest table pages whose A/D the unit set; a read later dirties nothing', () => {
    const { fd, nd, parent, gpt, buf, dirtyGpas } = nested();
    fd.setDirtyTracking({ ioasid: parent, enable: true });
    nd.dmaWrite(0x40010n, bytes(1));
    const dirty = dirtyGpas();
    const block = (gpa: bigint) => gpa - (gpa % BLOCK);
    expect(dirty).toContain(block(buf));
    expect(dirty).toContain(block(gpt.root)); // the PML4E's A was written by the unit
    expect(dirtyGpas()).toEqual([]);
    nd.dmaRead(0x40010n, 1); // A and D already set in the first-stage entries: no write to guest RAM
    expect(dirtyGpas()).toEqual([]);
    nd.dmaWrite(0x41000n, bytes(2), { pasid: 7 });
    expect(dirtyGpas()).toContain(block(buf + PAGE));
  });
});

describe('dirty tracking with ATS', () => {
  it('a device-TLB entry filled by a read does not grant a write until the leaf is dirty', () => {
    const { m } = vtdMachine({ devices: [{ name: 'ats', rid: 0x10, ats: true }] });
    const fd = m.openIoasidFd();
    const dev = m.device('ats');
    dev.bindIoasidFd(fd, { label: 'ats' });
    const ioasid = fd.alloc({ protocol: 'map' });
    dev.attachIoasid(ioasid);
    expect(dev.getInfo().ats).toBe(true);
    const va = m.vmm.mmap(16n * PAGE);
    fd.mapDma({ ioasid, iova: 0x10_0000n, vaddr: va, size: 16n * PAGE });
    fd.setDirtyTracking({ ioasid, enable: true });
    const bits = () => setBits(fd.getDirtyBitmap({ ioasid, iova: 0x10_0000n, size: 16n * PAGE, pageSize: PAGE }));
    dev.dmaRead(0x10_2000n, 4);
    dev.dmaWrite(0x10_2000n, bytes(1));
    expect(bits()).toEqual([2]);
    dev.dmaWrite(0x10_2000n, bytes(1)); // the clear flushed the device-TLB too
    expect(bits()).toEqual([2]);
    expect(bits()).toEqual([]);
  });
});
