import { expect } from 'vitest';
import { createMachine, IoasidError, type MachineOptions } from '../src/index.js';
import './mock-driver.js';
import type { MockDriver } from './mock-driver.js';

export function mockMachine(extra: Partial<MachineOptions> = {}) {
  const m = createMachine({ vendor: 'mock', guestMemory: 64n << 20n, ...extra });
  return { m, driver: m.driver as MockDriver };
}

/** Runs `fn` and asserts it fails with exactly `errno`, returning the error. */
export function expectErrno(fn: () => unknown, errno: string, message?: RegExp): IoasidError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${errno}`).toBeInstanceOf(IoasidError);
  expect((err as IoasidError).errno).toBe(errno);
  if (message) expect((err as IoasidError).message).toMatch(message);
  return err as IoasidError;
}

export const MiB = 1n << 20n;
export const bytes = (...b: number[]) => new Uint8Array(b);
