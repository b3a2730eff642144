import { expect } from 'vitest';
import { isTraceRead, WalkTracer, type DmaRequest, type HostMemory, type TraceRead, type TranslateResult, type WalkTrace } from '@ioasid/core';
import { INDIRECT_TCE, RTT_ENTRY, TCE, TVE, TVT_LOCATION, type Phb4 } from '../src/index.js';
import { readBe64 } from './helpers.js';

export function req(rid: number, iova: bigint, write = false, extra: Partial<DmaRequest> = {}): DmaRequest {
  return { rid, pasid: -1, iovaFrame: Number(BigInt.asUintN(64, iova) >> 12n), write, privileged: false, ...extra };
}

/** The unit's traced walk of `r` and what it returned. */
export function walkOf(unit: Pick<Phb4, 'walk'>, r: DmaRequest, caches = false): { result: TranslateResult; trace: WalkTrace } {
  const tracer = new WalkTracer();
  const result = unit.walk(r, tracer, { caches });
  return { result, trace: tracer.finish(result, 0) };
}

export function readsOf(t: WalkTrace): TraceRead[] {
  return t.events.filter(isTraceRead);
}

function be16(host: HostMemory, pa: bigint): bigint {
  const b = host.read(pa, 2);
  return BigInt((b[0] << 8) | b[1]);
}

/**
 * Every read of the trace holds what the hardware would read: an RTT entry or a TCE is the
 * big-endian value in host memory at its address; a TVE (on-chip) is the TVT entry, named by the
 * entry itself, located by name (the TVT is on-chip).
 */
export function expectReadsMatch(phb: Phb4, host: HostMemory, t: WalkTrace): void {
  for (const r of readsOf(t)) {
    expect(r.raw).toHaveLength(1);
    if (r.structure === RTT_ENTRY) expect(r.raw[0]).toBe(be16(host, r.addr!));
    else if (r.structure === TCE || r.structure === INDIRECT_TCE) expect(r.raw[0]).toBe(readBe64(host, r.addr!));
    else {
      expect(r.structure).toBe(TVE);
      expect(r.addr).toBeUndefined();
      expect(r.where).toBe(TVT_LOCATION);
      expect(r.raw[0]).toBe(phb.tveRaw(r.index!));
    }
  }
}
