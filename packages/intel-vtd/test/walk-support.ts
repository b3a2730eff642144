/** Helpers of the traced-walk tests: run a walk, flatten its reads, compare it with translate. */
import { expect } from 'vitest';
import { isTraceRead, WalkTracer, type DmaRequest, type HostMemory, type TraceRead, type TranslateResult, type WalkTrace } from '@ioasid/core';
import type { VtdUnit } from '../src/index.js';

/** The unit's walk of `req`, traced. */
export function traced(unit: VtdUnit, req: DmaRequest, caches = false): { result: TranslateResult; trace: WalkTrace } {
  const tracer = new WalkTracer();
  const result = unit.walk(req, tracer, { caches });
  return { result, trace: tracer.finish(result, 0) };
}

/** Every read of a trace in order, each nested sub-walk read (`via`) before the read it located. */
export function allReads(t: WalkTrace): TraceRead[] {
  const out: TraceRead[] = [];
  const add = (r: TraceRead) => {
    for (const v of r.via ?? []) add(v);
    out.push(r);
  };
  for (const e of t.events) if (isTraceRead(e)) add(e);
  return out;
}

/** Structure names of the top-level reads, in order. */
export const structures = (t: WalkTrace): string[] => t.events.filter(isTraceRead).map((r) => r.structure);

/** Every read's raw words are host memory at its address, word by word. */
export function expectRawIsMemory(t: WalkTrace, host: HostMemory): void {
  for (const r of allReads(t)) {
    expect(r.raw.length).toBeGreaterThan(0);
    const addr = r.addr!;
    expect(addr, `${r.structure}: every VT-d structure is in memory`).toBeTypeOf('bigint');
    r.raw.forEach((w, k) => expect(w, `${r.structure} at 0x${addr.toString(16)}, word ${k}`).toBe(host.u64(Number(addr) + 8 * k)));
  }
}

/** Empties every translation cache of the unit, as global invalidations would. */
export function flushCaches(unit: VtdUnit, rids: readonly number[] = [0x08]): void {
  unit.contextCache.invalidateAll();
  unit.pasidCache.invalidateAll();
  unit.iotlb.invalidateAll();
  for (const rid of rids) unit.devTlb.invalidate(rid, null, { frame: 0, frames: 2 ** 52 });
}

/** A translate result without what only recording gives: the FRCD index, the page request group index. */
export function unrecorded(r: TranslateResult): unknown {
  if (typeof r === 'number') return r;
  const { frcd: _f, prgi: _p, ...rest } = r as Record<string, unknown>;
  return rest;
}

/**
 * The walk of `req` on a unit with empty caches gives what translate then gives, and every read
 * it shows is memory as it was.
 */
export function expectWalkIsTranslate(unit: VtdUnit, host: HostMemory, req: DmaRequest, rids?: readonly number[]): WalkTrace {
  flushCaches(unit, rids ?? [req.rid]);
  const { result, trace } = traced(unit, req);
  expectRawIsMemory(trace, host);
  const live = unit.translate(req);
  const where = `${req.write ? 'write' : 'read'} of frame 0x${req.iovaFrame.toString(16)} (RID 0x${req.rid.toString(16)}, PASID ${req.pasid})`;
  expect(unrecorded(result), where).toEqual(unrecorded(live));
  if (typeof result === 'number') expect(trace.output, where).toBe(BigInt(result) * 4096n);
  else expect(trace.fault, where).toEqual(result);
  return trace;
}
