/** The machine every benchmark builds, its bound device, and the fixed shuffle of the look-up rows. */
import { createMachine, type Machine } from '@ioasid/core';

export const KiB4 = 4096n;
export const MiB2 = 2n << 20n;
export const GiB = 1n << 30n;

export function machine(vendor: string, guestMemory = MiB2, hostMemory = 128n << 30n): Machine {
  // Room for map-huge's 64 GiB of huge pages beside the kernel's tables.
  return createMachine({ vendor, devices: [{ name: 'dev0' }, { name: 'dev1' }], guestMemory, hostMemory });
}

export function bound(m: Machine) {
  const fd = m.openIoasidFd();
  const dev = m.device('dev0');
  dev.bindIoasidFd(fd, { label: 'bench' });
  return { fd, dev };
}

/** 0 … n-1 in a fixed pseudo-random order (the same in every run). */
export function shuffled(n: number, seed = 7): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  let x = seed;
  for (let i = n - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) >>> 0;
    const j = x % (i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
