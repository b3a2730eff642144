/**
 * One machine running several flows at once, for the traced-walk and memory-image tests: a
 * second-level map domain (5.1), a guest first-level table nested on its GPA space with a PASID
 * and page requests (5.4, 5.6), an mdev on its host PASID, a faulted DMA left in FRCD, and a
 * guest PTE whose A and D bits a DMA would have to set.
 */
import { DmaFault, type DmaRequest } from '@ioasid/core';
import { bytes, vtdMachine } from './helpers.js';

export const RID = { sl: 0x08, nested: 0x10, pf: 0x18 } as const;

export function flowsMachine() {
  const { m, driver } = vtdMachine({
    devices: [
      { name: 'sl', rid: RID.sl },
      { name: 'nested', rid: RID.nested, ats: true, pri: true },
      { name: 'pf', rid: RID.pf },
      { name: 'm0', kind: 'mdev', parent: 'pf' },
    ],
  });
  const fd = m.openIoasidFd();
  // 5.1: a map domain with a few pages of VMM memory, read-only and read-write.
  const sl = m.device('sl');
  sl.bindIoasidFd(fd, { label: 'sl' });
  const gpaSl = fd.alloc({ protocol: 'map' });
  sl.attachIoasid(gpaSl);
  const va = m.vmm.mmap(0x4000n);
  fd.mapDma({ ioasid: gpaSl, iova: 0x100000n, vaddr: va, size: 0x2000n, read: true, write: true });
  fd.mapDma({ ioasid: gpaSl, iova: 0x200000n, vaddr: va + 0x2000n, size: 0x2000n, read: true, write: false });
  sl.dmaWrite(0x100000n, bytes(1));
  // 5.4 / 5.6: guest RAM as the parent, a bound guest table on RID_PASID and on PASID 7.
  const nd = m.device('nested');
  nd.bindIoasidFd(fd, { label: 'nested' });
  const parent = fd.alloc({ protocol: 'map' });
  fd.mapDma({ ioasid: parent, iova: 0n, vaddr: m.guest.vaddr, size: m.guest.size, read: true, write: true });
  nd.attachIoasid(parent);
  const child = fd.createNesting({ parent, protocol: 'user-pgtable' });
  nd.attachIoasid(child);
  const child7 = fd.createNesting({ parent, protocol: 'user-pgtable' });
  nd.attachIoasid(child7, { userPasid: 7 });
  const format = { kind: 'vtd-first-level', levels: 4 };
  const gpt = m.guest.createPageTable(driver.guest.pageTableFormat(format));
  const buf = m.guest.allocPages(0x2000n);
  gpt.map(0x40000n, buf, 0x2000n);
  gpt.map(0x7f0000000000n, buf, 0x1000n, { read: true, write: false });
  fd.bindPgtable({ ioasid: child, addr: gpt.root, format });
  fd.bindPgtable({ ioasid: child7, addr: gpt.root, format });
  nd.dmaWrite(0x40000n, bytes(2));
  nd.dmaWrite(0x40008n, bytes(3), { pasid: 7 });
  try {
    nd.dmaWrite(0x90000n, bytes(1)); // not mapped: a page request (PRI), serviced by the driver
  } catch (e) {
    if (!(e instanceof DmaFault)) throw e;
  }
  // An mdev on its host PASID under the pf's RID.
  const md = m.device('m0');
  md.bindIoasidFd(fd, { label: 'm0' });
  const mio = fd.alloc({ protocol: 'map' });
  md.attachIoasid(mio);
  const mva = m.vmm.mmap(0x1000n);
  fd.mapDma({ ioasid: mio, iova: 0x8000n, vaddr: mva, size: 0x1000n, read: true, write: true });
  md.dmaRead(0x8000n, 4);
  const hostPasid = md.wire(undefined).pasid;
  // A fault left in FRCD (the map domain's device writes a read-only page).
  try {
    sl.dmaWrite(0x200000n, bytes(1));
  } catch (e) {
    if (!(e instanceof DmaFault)) throw e;
  }
  // The guest clears A and D in the PTE of 0x41000 (never used yet): a DMA there would set them.
  const pte = gpt.table.walk(0x41).at(-1)!;
  const q = new Uint8Array(8);
  new DataView(q.buffer).setBigUint64(0, pte.raw & ~0x60n, true);
  m.guest.write(pte.entryAddr, q);
  return { m, driver, fd, gpaSl, parent, child, child7, gpt, hostPasid };
}

/** Requests over every route the flows set up and around them: mapped, unmapped, edges, each PASID. */
export function flowRequests(hostPasid: number): DmaRequest[] {
  const out: DmaRequest[] = [];
  const routes: [number, number, bigint[]][] = [
    [RID.sl, -1, [0x100000n, 0x101000n, 0x102000n, 0x200000n, 0x201000n, 0n, 0xfee00000n, (1n << 48n) - 0x1000n, 1n << 48n, (1n << 64n) - 0x1000n]],
    [RID.nested, -1, [0x40000n, 0x41000n, 0x42000n, 0x90000n, 0x7f0000000000n, 0x800000000000n, 0xffff800000000000n]],
    [RID.nested, 7, [0x40000n, 0x41000n, 0x7f0000000000n, 0x50000n]],
    [RID.nested, 8, [0x40000n]],
    [RID.pf, hostPasid, [0x8000n, 0x9000n]],
    [RID.pf, -1, [0x8000n]],
    [0x20, -1, [0x1000n]],
    [0x0108, -1, [0x1000n]],
  ];
  for (const [rid, pasid, inputs] of routes) {
    for (const input of inputs) {
      for (const write of [false, true]) out.push({ rid, pasid, iovaFrame: Number(input >> 12n), write, privileged: false });
    }
  }
  out.push({ rid: RID.nested, pasid: 7, iovaFrame: 0x40, write: false, privileged: true });
  return out;
}
