import { fail } from './errors.js';

const U64_LIMIT = 1n << 64n;

/** Checks a u64 argument the way the kernel ABI would see it. */
export function u64(value: unknown, name: string): bigint {
  if (typeof value !== 'bigint') fail('EINVAL', `${name} must be a bigint (u64), got ${typeof value}`);
  if (value < 0n) fail('EINVAL', `${name} must not be negative (got ${value})`);
  if (value >= U64_LIMIT) fail('EOVERFLOW', `${name} does not fit in 64 bits (got 0x${value.toString(16)})`);
  return value;
}

export function u32(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    fail('EINVAL', `${name} must be an unsigned 32-bit integer (got ${String(value)})`);
  }
  return value;
}

export function hex(v: bigint | number): string {
  return `0x${v.toString(16)}`;
}
