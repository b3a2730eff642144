import type { DmaFault, ErrnoName, IoasidError } from '@ioasid/core';
import { ConformanceFailure, isDmaFault, isIoasidError } from '../kit.js';

/** How a call into the API ended: a value, a refusal (IoasidError) or, for a DMA, a DmaFault. */
export type Attempt<T> =
  | { ok: true; value: T }
  | { ok: false; errno: ErrnoName; error: IoasidError; fault?: undefined }
  | { ok: false; errno?: undefined; error?: undefined; fault: DmaFault };

/**
 * Thrown by the kit's own guards (a view watchdog) through vendor code: never an API outcome,
 * always passed on as it is.
 */
export class KitInterrupt extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KitInterrupt';
  }
}

export function thrownText(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message.split('\n')[0]}`;
  return `${typeof e} ${String(e)}`;
}

/** The failure for an exception other than IoasidError/DmaFault out of `what`. */
export function leaked(what: string, e: unknown): ConformanceFailure {
  const name = e instanceof Error ? e.name : typeof e;
  const f = new ConformanceFailure(`only IoasidError/DmaFault may leave the API: ${name} from ${what}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  if (e instanceof Error && e.stack) f.stack = `${f.name}: ${f.message}\n  caused by ${e.stack}`;
  return f;
}

/**
 * Calls the API. IoasidError is a refusal; DmaFault is an outcome only of a DMA (`dma`); the
 * kit's own failures and interrupts pass through; anything else fails the case naming the call.
 */
export function attempt<T>(what: string | (() => string), fn: () => T, dma = false): Attempt<T> {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    if (e instanceof ConformanceFailure || e instanceof KitInterrupt) throw e;
    if (isIoasidError(e)) return { ok: false, errno: e.errno, error: e };
    const label = typeof what === 'string' ? what : what();
    if (isDmaFault(e)) {
      if (dma) return { ok: false, fault: e };
      throw new ConformanceFailure(`only a DMA may throw DmaFault: ${label} threw ${e.message}`);
    }
    throw leaked(label, e);
  }
}

/** The outcome as a message shows it. */
export function outcomeText(r: Attempt<unknown>): string {
  if (r.ok) return 'succeeded';
  if (r.fault) return `DmaFault ${r.fault.record.name}`;
  return r.error.message;
}
