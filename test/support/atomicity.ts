import { expect } from 'vitest';
import { IoasidError } from '@ioasid/core';

/** What arms an allocation failure: a machine (`injectAllocFailure`) or a bare `AllocInjector` (`failNth`). */
export type FailureInjector = { injectAllocFailure(n: number): void } | { failNth(n: number): void };

export interface AllocationFailureOptions {
  /** The state that must not move when the command fails. Read before each try and copied deeply (bigints, typed arrays, maps and sets included). */
  state: () => unknown;
  /** Extra checks after each failed try (`n` = the allocation that failed), for what a state snapshot cannot hold (a DMA that must still fault …). */
  afterFailure?: (n: number) => void;
  /** The errno every failure must carry (default ENOMEM); `null` checks only that it is an IoasidError. */
  errno?: string | null;
  /** The command must succeed before allocation number `limit` is failed (default 200). */
  limit?: number;
}

function arm(injector: FailureInjector, n: number): void {
  if ('injectAllocFailure' in injector) injector.injectAllocFailure(n);
  else injector.failNth(n);
}

/** A deep copy of `v` that compares with toEqual, taken now (so later mutation of live objects cannot hide a change). */
export function stateCopy(v: unknown): unknown {
  return JSON.parse(
    JSON.stringify(v, (_k, x: unknown) => {
      if (typeof x === 'bigint') return `${x.toString()}n`;
      if (ArrayBuffer.isView(x)) return { [x.constructor.name]: Array.from(x as unknown as ArrayLike<number | bigint>, (e) => (typeof e === 'bigint' ? `${e.toString()}n` : e)) };
      if (x instanceof Map) return { Map: [...x] };
      if (x instanceof Set) return { Set: [...x] };
      return x;
    }) ?? 'null',
  );
}

/**
 * The atomicity loop every package runs (the "fail every n-th allocation and compare state" set-up):
 * fails allocation n = 1, 2, … of `command` until it succeeds. Each failed try must throw an
 * IoasidError (with `errno`, ENOMEM unless told) and leave `state()` exactly as before the try.
 * Returns the n at which the command first succeeded (1 + the number of allocations it makes).
 */
export function everyAllocationFailure(injector: FailureInjector, command: () => unknown, options: AllocationFailureOptions): number {
  const { state, afterFailure, errno = 'ENOMEM', limit = 200 } = options;
  for (let n = 1; n < limit; n++) {
    const before = stateCopy(state());
    arm(injector, n);
    try {
      command();
    } catch (e) {
      arm(injector, 0);
      expect(e, `allocation ${n} failed`).toBeInstanceOf(IoasidError);
      if (errno !== null) expect((e as IoasidError).errno, `allocation ${n} failed`).toBe(errno);
      expect(stateCopy(state()), `state after allocation ${n} failed`).toEqual(before);
      afterFailure?.(n);
      continue;
    }
    arm(injector, 0);
    return n;
  }
  throw new Error(`the command never succeeded while one of its first ${limit - 1} allocations failed`);
}
