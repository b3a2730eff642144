import { AllocInjector, HostMemory } from '@ioasid/core';

export function newHost(): HostMemory {
  return new HostMemory(new AllocInjector());
}

/** The 64-bit big-endian value stored at `pa`. */
export function readBe64(host: HostMemory, pa: bigint | number): bigint {
  return new DataView(host.read(pa, 8).buffer).getBigUint64(0, false);
}

export function writeBe64(host: HostMemory, pa: bigint | number, v: bigint): void {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, false);
  host.write(Number(pa), b);
}

export function bytes(...b: number[]): Uint8Array {
  return new Uint8Array(b);
}

import { createMachine, type MachineOptions } from '@ioasid/core';
import '../src/index.js';
import type { PowerNvIommu } from '../src/index.js';

export const KiB = 1n << 10n;
export const MiB = 1n << 20n;
export const GiB = 1n << 30n;
export const DDW = 0x0800000000000000n;

export function powerMachine(extra: Partial<MachineOptions> = {}) {
  const m = createMachine({ vendor: 'power-tce', guestMemory: 64n * MiB, ...extra });
  return { m, iommu: m.driver as PowerNvIommu };
}

export { expectErrno } from '../../../test/support/expect-errno.js';
