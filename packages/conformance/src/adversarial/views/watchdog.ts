import type { Machine } from '@ioasid/core';
import { ConformanceFailure } from '../../kit.js';
import { KitInterrupt, attempt, type Attempt } from '../api.js';

/** How long one view of a guest-controlled structure may take (every view is bounded). */
export const VIEW_BUDGET_MS = 2000;

/** The host-memory reads every view and walker goes through. */
const READS = ['u32', 'u64', 'read', 'readInto', 'wordsForRead'] as const;

/**
 * Runs one view (DUMP_PGTABLE, LOOKUP, a DMA) with a watchdog: JavaScript cannot stop a
 * synchronous call, but every walk reads host memory, so the kit counts those reads and, once
 * the budget is spent, throws from inside them (and keeps throwing). A view that runs past its
 * budget fails the case naming it, instead of hanging the run.
 */
export function watched<T>(m: Machine, what: string, fn: () => T, dma = false, budgetMs = VIEW_BUDGET_MS): Attempt<T> {
  const mem = m.hostMemory as unknown as Record<string, unknown>;
  const saved = new Map<string, PropertyDescriptor | undefined>();
  let reads = 0;
  let tripped = false;
  const t0 = performance.now();
  for (const name of READS) {
    const orig = mem[name];
    if (typeof orig !== 'function') continue;
    saved.set(name, Object.getOwnPropertyDescriptor(mem, name));
    Object.defineProperty(mem, name, {
      configurable: true,
      writable: true,
      value(this: unknown, ...args: unknown[]) {
        if ((++reads & 1023) === 0 && (tripped || performance.now() - t0 > budgetMs)) {
          tripped = true;
          throw new KitInterrupt(`${what} ran past its ${budgetMs} ms budget`);
        }
        return (orig as (...a: unknown[]) => unknown).apply(this, args);
      },
    });
  }
  let r: Attempt<T> | undefined;
  let interrupted = false;
  try {
    r = attempt(what, fn, dma);
  } catch (e) {
    if (!(e instanceof KitInterrupt)) throw e;
    interrupted = true;
  } finally {
    for (const [name, desc] of saved) {
      if (desc) Object.defineProperty(mem, name, desc);
      else delete mem[name];
    }
  }
  const ms = performance.now() - t0;
  if (tripped || interrupted || ms > budgetMs) {
    throw new ConformanceFailure(
      `views: ${what} ${tripped || interrupted ? `did not return within ${budgetMs} ms (the kit stopped it after ${reads} host-memory reads)` : `took ${ms.toFixed(0)} ms (budget ${budgetMs} ms)`}: a view of a guest-controlled structure must be bounded, and say truncated: true when it stops early`,
    );
  }
  return r!;
}
