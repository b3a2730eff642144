import type { Device, IoasidFd, Machine } from '@ioasid/core';
import { MSI_IOVA_BASE } from '../src/index.js';
import { gpaSpace, guestData, MiB, open, pattern, smmuMachine } from './machine-helpers.js';

const S1 = { kind: 'arm-lpae-s1', granule: 4096, ias: 48 };

/** Where one device's requests go, and the addresses worth walking there. */
export interface Route {
  what: string;
  dev: Device;
  ioasid: number;
  pasid?: number;
  /** A mapped address. */
  main: bigint;
  iovas: bigint[];
}

/** Addresses around the edges of every range a walk can meet. */
function edges(mapped: bigint[], guestSize: bigint): bigint[] {
  const out = [0n, 0xfffn, 0x1000n, BigInt(MSI_IOVA_BASE), BigInt(MSI_IOVA_BASE) - 1n, guestSize - 1n, guestSize, 1n << 40n, (1n << 48n) - 1n, 1n << 48n, (1n << 64n) - 1n];
  for (const a of mapped) out.push(a, a + 0xabcn, a + 0x1000n, a - 1n);
  return out.filter((a) => a >= 0n);
}

/**
 * One machine running every SMMUv3 flow at once: dev0 on the GPA space (stage 2 only), dev1 with
 * its two-level PASID (CD) table in guest memory (5.7), dev2 with a linear guest CD table of one
 * CD (5.7, its non-PASID traffic through CD 0), dev3 on the GPA space with a kernel-managed IOASID
 * at PASID 9 (stage 1 with a kernel CD table in host memory).
 */
export function allFlows(): { m: Machine; fd: IoasidFd; routes: Route[] } {
  const { m } = smmuMachine({ devices: [{ name: 'dev0' }, { name: 'dev1', ats: true, pri: true }, { name: 'dev2' }, { name: 'dev3' }] });
  const { fd, devs } = open(m, 'dev0', 'dev1', 'dev2', 'dev3');
  const [dev0, dev1, dev2, dev3] = devs;
  const gpa = gpaSpace(m, fd, devs);
  const size = m.guest.size;

  const a = guestData(m, 4096n, 1);
  const b = guestData(m, 4096n, 2);
  const tables = m.guest.createPageTable(m.driver.guest!.pageTableFormat(S1));
  tables.map(0x10_0000n, a.gpa, 4096n);
  tables.map(0x10_1000n, b.gpa, 4096n, { read: true, write: false });
  const pasids = fd.createNesting({ parent: gpa, protocol: 'user-pasid-table' });
  dev1.attachIoasid(pasids);
  const format = { kind: 'arm-smmuv3-cd', layout: 'two-level', s1cdmax: 12 };
  const table = m.driver.guest!.buildPasidTable!(m.guest, format, [
    { pasid: 0, root: tables.root, pgtable: S1 },
    { pasid: 1, root: tables.root, pgtable: S1 },
    { pasid: 2049, root: tables.root, pgtable: S1 },
  ]);
  fd.bindPasidTable({ ioasid: pasids, addr: table, format });

  const single = fd.createNesting({ parent: gpa, protocol: 'user-pasid-table' });
  dev2.attachIoasid(single);
  const linear = { kind: 'arm-smmuv3-cd', layout: 'linear', s1cdmax: 0 };
  fd.bindPasidTable({ ioasid: single, addr: m.driver.guest!.buildPasidTable!(m.guest, linear, [{ pasid: 0, root: tables.root, pgtable: S1, asid: 40 }]), format: linear });

  const kernel = fd.alloc({ protocol: 'map' });
  const va = m.vmm.mmap(64n * 1024n);
  m.vmm.write(va, pattern(3, 64));
  fd.mapDma({ ioasid: kernel, iova: 0x20_0000n, vaddr: va, size: 64n * 1024n, read: true, write: false });
  dev3.attachIoasid(kernel, { userPasid: 9 });

  // Some DMA first, so the live unit's caches are warm (and the ATS endpoint's ATC too).
  dev0.dmaRead(0x20_1000n, 8);
  dev1.dmaRead(0x10_0000n, 8, { pasid: 1 });
  dev2.dmaRead(0x10_0000n, 8);
  dev3.dmaRead(0x20_0000n, 8, { pasid: 9 });

  const guest = [0x20_1000n, a.gpa, 2n * MiB];
  const s1 = [0x10_0000n, 0x10_1000n, 0x10_2000n];
  const routes: Route[] = [
    { what: 'stage 2 only', dev: dev0, ioasid: gpa, main: 0x20_1000n, iovas: edges(guest, size) },
    { what: 'PASID table, no PASID (CD 0)', dev: dev1, ioasid: pasids, main: 0x10_0000n, iovas: edges(s1, size) },
    { what: 'PASID table, PASID 1', dev: dev1, ioasid: pasids, pasid: 1, main: 0x10_0000n, iovas: edges(s1, size) },
    { what: 'PASID table, PASID 2049', dev: dev1, ioasid: pasids, pasid: 2049, main: 0x10_1000n, iovas: edges(s1, size) },
    { what: 'PASID table, PASID 5 (no CD)', dev: dev1, ioasid: pasids, pasid: 5, main: 0x10_0000n, iovas: [0x10_0000n] },
    { what: 'linear PASID table, no PASID (CD 0)', dev: dev2, ioasid: single, main: 0x10_0000n, iovas: edges(s1, size) },
    { what: 'kernel PASID 9', dev: dev3, ioasid: kernel, pasid: 9, main: 0x20_0000n, iovas: edges([0x20_0000n, 0x20_f000n], size) },
    { what: 'kernel, no PASID (CD 0: the GPA space)', dev: dev3, ioasid: gpa, main: 0x20_1000n, iovas: edges(guest, size) },
  ];
  return { m, fd, routes };
}
