import { createMachine, type Device, type IoasidFd, type Machine, type MachineOptions } from '@ioasid/core';
import { MSI_IOVA_BASE, MSI_IOVA_LENGTH, type SmmuV3Driver } from '../src/index.js';

export const MiB = 1n << 20n;

export function smmuMachine(extra: Partial<MachineOptions> = {}): { m: Machine; drv: SmmuV3Driver } {
  const m = createMachine({
    vendor: 'arm-smmuv3',
    guestMemory: 256n * MiB,
    devices: [{ name: 'dev0' }, { name: 'dev1', ats: true, pri: true }, { name: 'dev2' }],
    ...extra,
  });
  return { m, drv: m.driver as SmmuV3Driver };
}

export function open(m: Machine, ...names: string[]): { fd: IoasidFd; devs: Device[] } {
  const fd = m.openIoasidFd();
  const devs = names.map((n) => {
    const d = m.device(n);
    d.bindIoasidFd(fd, { label: `label-${n}` });
    return d;
  });
  return { fd, devs };
}

/** The VMM's GPA space: guest RAM mapped at IOVA = GPA around the MSI window. */
export function gpaSpace(m: Machine, fd: IoasidFd, devs: Device[]): number {
  const parent = fd.alloc({ protocol: 'map' });
  for (const d of devs) d.attachIoasid(parent);
  const hole = BigInt(MSI_IOVA_BASE);
  const holeEnd = hole + BigInt(MSI_IOVA_LENGTH);
  fd.mapDma({ ioasid: parent, iova: 0n, vaddr: m.guest.vaddr, size: hole, read: true, write: true });
  fd.mapDma({ ioasid: parent, iova: holeEnd, vaddr: m.guest.vaddr + holeEnd, size: m.guest.size - holeEnd, read: true, write: true });
  return parent;
}

export function pattern(seed: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

/** Guest data page(s) filled with a pattern. */
export function guestData(m: Machine, bytes: bigint, seed: number, align = 4096n): { gpa: bigint; bytes: Uint8Array } {
  let gpa = m.guest.allocPages(bytes + align);
  gpa = ((gpa + align - 1n) / align) * align;
  const data = pattern(seed, Number(bytes > 4096n ? 4096n : bytes));
  m.guest.write(gpa, data);
  return { gpa, bytes: data };
}

export function catchFault(fn: () => unknown): Record<string, unknown> {
  try {
    fn();
  } catch (e) {
    const r = (e as { record?: Record<string, unknown> }).record;
    if (!r) throw e;
    return r;
  }
  throw new Error('expected a DMA fault');
}
