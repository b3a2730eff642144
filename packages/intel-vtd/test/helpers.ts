import { AllocInjector, createMachine, HostMemory, type MachineOptions } from '@ioasid/core';
import '../src/index.js';
import type { VtdDriver } from '../src/index.js';

export const KiB = 1024n;
export const MiB = 1n << 20n;
export const GiB = 1n << 30n;

export function vtdMachine(extra: Partial<MachineOptions> = {}) {
  const m = createMachine({ vendor: 'intel-vtd', guestMemory: 64n * MiB, ...extra });
  return { m, driver: m.driver as VtdDriver };
}

export function newHost(): HostMemory {
  return new HostMemory(new AllocInjector());
}

export { expectErrno } from '../../../test/support/expect-errno.js';

export const bytes = (...b: number[]) => new Uint8Array(b);

/** A 64-bit entry read back from host memory at a byte address. */
export function qwordAt(host: HostMemory, pa: bigint): bigint {
  return new DataView(host.read(pa, 8).buffer).getBigUint64(0, true);
}
