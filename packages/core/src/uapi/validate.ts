import { fail, IoasidError } from '../base/errors.js';
import { hex } from '../base/args.js';
import { didYouMean } from '../base/did-you-mean.js';
import { PAGE_SIZE } from '../memory/host-memory.js';

/**
 * Reading what a caller passed, without trusting it: only `IoasidError` may leave the API
 *, so junk (null, numbers, strings, arrays, symbols, class instances, accessors,
 * proxies, cycles) is refused with EINVAL naming the argument, never a TypeError.
 */

/** An argument object as read once: its own enumerable data properties (undefined ones dropped). */
export type Args = Record<string, unknown>;

/** Largest number of keys, elements or nesting levels accepted in a format object. */
const MAX_FORMAT_KEYS = 64;
const MAX_FORMAT_DEPTH = 4;

/** A short description of any value for an error message; never throws. */
export function show(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(v);
    case 'bigint':
      return `${v < 0n ? '-' : ''}0x${(v < 0n ? -v : v).toString(16)}n`;
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    default:
      if (v === null) return 'null';
      try {
        return Array.isArray(v) ? 'an array' : 'an object';
      } catch {
        return 'an object';
      }
  }
}

/**
 * The plain object `value` as a snapshot of its own data properties, so later checks and the
 * command itself see the same values (a getter cannot change between the two). Keys whose value
 * is `undefined` count as absent.
 */
export function argObject(value: unknown, name: string): Args {
  if (typeof value !== 'object' || value === null) fail('EINVAL', `${name} must be an object (got ${show(value)})`);
  try {
    if (Array.isArray(value)) fail('EINVAL', `${name} must be an object, not an array`);
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) fail('EINVAL', `${name} must be a plain object (got an instance of another class)`);
    const out: Args = {};
    for (const key of Reflect.ownKeys(value)) {
      const d = Object.getOwnPropertyDescriptor(value, key);
      if (!d || !d.enumerable) continue;
      if (typeof key === 'symbol') fail('EINVAL', `${name} has a symbol key; fields are named by strings`);
      if (!('value' in d)) fail('EINVAL', `${name}.${key} is an accessor; pass plain data`);
      if (d.value !== undefined) out[key] = d.value;
    }
    return out;
  } catch (e) {
    if (e instanceof IoasidError) throw e;
    fail('EINVAL', `${name} cannot be read as plain data`);
  }
}

/** `args` (from argObject) holds no field outside `allowed`: else EINVAL naming the field. */
export function onlyKeys(args: Args, allowed: readonly string[], command: string): void {
  for (const key of Object.keys(args)) {
    if (!allowed.includes(key)) {
      fail('EINVAL', `${command} has no field '${key}' (it takes ${allowed.length ? allowed.join(', ') : 'no fields'})${didYouMean(key, allowed)}`);
    }
  }
}

/** Optional options object: undefined → {}; anything else must be a plain object with `allowed` keys. */
export function optionsArg(value: unknown, name: string, allowed: readonly string[]): Args {
  if (value === undefined) return {};
  const o = argObject(value, name);
  onlyKeys(o, allowed, name);
  return o;
}

/** An IOASID number: a u32 (a non-integer or negative value is malformed, not unknown). */
export function ioasidArg(value: unknown, name = 'ioasid'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    fail('EINVAL', `${name} must be an IOASID number (a u32), got ${show(value)}`);
  }
  return value;
}

/** A PASID as the PCIe prefix carries it: an integer in [0, 2^20). */
export function pasidArg(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= 1 << 20) {
    fail('EINVAL', `${name} must be an integer in [0, 2^20) (got ${show(value)})`);
  }
  return value;
}

export function optionalBool(value: unknown, name: string): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') fail('EINVAL', `${name} must be a boolean (got ${show(value)})`);
  return value;
}

/**
 * A deep copy of a format value (an ALLOC vendor field, a bindable format): strings, numbers,
 * bigints, booleans, null, arrays and plain objects only, bounded in size and depth. The copy
 * is what the command keeps, so the caller mutating its object later changes nothing.
 */
export function plainData(value: unknown, name: string, depth = 0): unknown {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'bigint':
    case 'boolean':
      return value;
    case 'object':
      break;
    default:
      fail('EINVAL', `${name} must be plain data (got ${show(value)})`);
  }
  if (value === null) return null;
  if (depth >= MAX_FORMAT_DEPTH) fail('EINVAL', `${name} is nested too deeply (more than ${MAX_FORMAT_DEPTH} levels)`);
  let items: unknown[] | undefined;
  try {
    if (Array.isArray(value)) {
      const a = value as unknown[];
      if (Object.getPrototypeOf(a) !== Array.prototype) fail('EINVAL', `${name} must be a plain array`);
      const n = a.length;
      if (n > MAX_FORMAT_KEYS) fail('EINVAL', `${name} has more than ${MAX_FORMAT_KEYS} elements`);
      items = [];
      for (let i = 0; i < n; i++) {
        const d = Object.getOwnPropertyDescriptor(a, i);
        if (d && !('value' in d)) fail('EINVAL', `${name}[${i}] is an accessor; pass plain data`);
        items.push(d?.value ?? null);
      }
    }
  } catch (e) {
    if (e instanceof IoasidError) throw e;
    fail('EINVAL', `${name} cannot be read as plain data`);
  }
  if (items) return items.map((v, i) => plainData(v, `${name}[${i}]`, depth + 1));
  const o = argObject(value, name);
  const keys = Object.keys(o);
  if (keys.length > MAX_FORMAT_KEYS) fail('EINVAL', `${name} has more than ${MAX_FORMAT_KEYS} fields`);
  const out: Args = {};
  for (const k of keys) out[k] = plainData(o[k], `${name}.${k}`, depth + 1);
  return out;
}

/** A deep copy of data the API hands out (GET_INFO, describe): the caller owns what it gets. */
export function copyOut<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((v) => copyOut(v)) as T;
  if (ArrayBuffer.isView(value)) return (value as unknown as Uint8Array).slice() as T;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = copyOut(v);
  return out as T;
}

/** One past the largest u64: a range whose end passes it wraps (EOVERFLOW). */
export const U64_END = 1n << 64n;

export function pageAligned(v: bigint, name: string): void {
  if (v % BigInt(PAGE_SIZE) !== 0n) fail('EINVAL', `${name} ${hex(v)} is not 4 KiB aligned`);
}
