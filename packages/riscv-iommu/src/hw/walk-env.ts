import type { HostMemory, WalkTracer } from '@ioasid/core';
import type { Capabilities } from './registers.js';

/**
 * What one translation works with: host memory, the decoded capabilities, and a tracer when the
 * walk is a side-effect-free trace (then no cache is filled, no A/D bit written, no record queued).
 */
export interface WalkEnv {
  readonly mem: HostMemory;
  readonly caps: Capabilities;
  readonly tracer?: WalkTracer;
}

/** A fault the walk met: the CAUSE, and for a guest-page fault the GPA and whether it came from an implicit access. */
export interface WalkFault {
  readonly cause: number;
  readonly gpa?: number;
  readonly implicit?: boolean;
  /** The first-stage (guest) table said no: a device with PRI may ask for the page instead. */
  readonly recoverable?: boolean;
  readonly why?: string;
}

export function isFault(x: unknown): x is WalkFault {
  return typeof x === 'object' && x !== null && (x as WalkFault).cause !== undefined;
}

/** Whether [pa, pa + bytes) has host memory behind it (else the access is an access fault). */
export function inMemory(env: WalkEnv, pa: number, bytes: number): boolean {
  return pa >= 0 && pa + bytes <= env.mem.limit;
}

export function rawAt(env: WalkEnv, pa: number): bigint {
  return env.mem.u64(pa);
}
