import fc from 'fast-check';
import type { Machine } from '@ioasid/core';
import { propertyFailure } from '../replay/property.js';
import type { KitEnv } from '../types.js';
import { MiB, closeFd, expectOk, granule, newMachine, openFd, spot } from '../kit.js';

/** The IOVA window a property works in: `slots` pages of `g` bytes at `base` in every 'map' space. */
export interface Window {
  g: bigint;
  base: bigint;
  slots: number;
}

/** Reads GET_INFO once on a scratch machine to place the property's IOVA window. */
export function probeWindow(env: KitEnv, slots: number): Window {
  const m = newMachine(env);
  const { fd, devs } = openFd(m, 'dev0');
  const a = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC');
  expectOk(() => devs[0].attachIoasid(a), 'ATTACH');
  const info = fd.getInfo(a);
  const g = granule(info, 'GET_INFO');
  const base = spot(info.permittedRanges, BigInt(slots) * g, g, 'property IOVA window', 16n * MiB);
  closeFd(fd);
  return { g, base, slots };
}

/** fast-check parameters for a property of this env. */
export function fcParams(env: KitEnv, extra: { numRuns?: number } = {}) {
  return { numRuns: extra.numRuns ?? env.runs, endOnFailure: false, ...(env.seed !== undefined ? { seed: env.seed } : {}) };
}

/** Drains every IOASID's fault queue (faults are expected in properties; keep memory flat). */
export function drainFaults(m: Machine): void {
  for (const fd of m.fds) for (const id of fd.ioasidIds) fd.readFaults(id);
}

/**
 * Runs a property case's body over `arb`; a failure throws the kit's failure with the shrunk
 * counterexample written as a scenario file that replays it (see replay/property.ts).
 */
export function assertProperty<T>(env: KitEnv, caseId: string, arb: fc.Arbitrary<T>, body: (v: T) => void): void {
  const out = fc.check(
    fc.property(arb, (v) => {
      body(v);
    }),
    fcParams(env),
  );
  if (out.failed) throw propertyFailure(out, body, { caseId, vendor: env.vendor });
}
