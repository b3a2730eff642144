import { createMachine, type MachineOptions } from '../src/index.js';
import './mock-driver.js';
import type { MockDriver } from './mock-driver.js';

export function mockMachine(extra: Partial<MachineOptions> = {}) {
  const m = createMachine({ vendor: 'mock', guestMemory: 64n << 20n, ...extra });
  return { m, driver: m.driver as MockDriver };
}

export { expectErrno } from '../../../test/support/expect-errno.js';

export const MiB = 1n << 20n;
export const bytes = (...b: number[]) => new Uint8Array(b);
