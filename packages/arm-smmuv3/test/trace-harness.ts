import { expect } from 'vitest';
import { WalkTracer, isTraceRead, type DmaRequest, type FaultRecord, type HostMemory, type TraceRead, type TranslateResult, type WalkTrace } from '@ioasid/core';
import type { SmmuV3 } from '../src/index.js';

export interface Probe {
  sid: number;
  pasid?: number;
  iova: number;
  write?: boolean;
  privileged?: boolean;
}

export function request(p: Probe): DmaRequest {
  return { rid: p.sid, pasid: p.pasid ?? -1, iovaFrame: Math.floor(p.iova / 4096), offset: p.iova % 4096, write: !!p.write, privileged: !!p.privileged };
}

/** The unit's traced walk of `p`: what it returned and the finished trace. */
export function traced(unit: SmmuV3, p: Probe, caches = false): { result: TranslateResult; trace: WalkTrace } {
  const tracer = new WalkTracer();
  const result = unit.walk(request(p), tracer, { caches });
  return { result, trace: tracer.finish(result, p.iova % 4096) };
}

/** Every read of a trace, each stage-2 sub-walk's reads before the read they located. */
export function allReads(t: WalkTrace): TraceRead[] {
  const out: TraceRead[] = [];
  for (const e of t.events) {
    if (!isTraceRead(e)) continue;
    out.push(...(e.via ?? []), e);
  }
  return out;
}

/** The trace's structures in order, `via` reads prefixed by '↳ '. */
export function structures(t: WalkTrace): string[] {
  const out: string[] = [];
  for (const e of t.events) {
    if (!isTraceRead(e)) continue;
    for (const v of e.via ?? []) out.push(`↳ ${v.structure}`);
    out.push(e.structure);
  }
  return out;
}

/** Each read's raw words are what host memory holds at its address. */
export function expectRawFromMemory(host: HostMemory, t: WalkTrace): void {
  for (const r of allReads(t)) {
    // Every SMMUv3 structure is in memory (none on-chip).
    expect(r.addr, r.structure).toBeTypeOf('bigint');
    const bytes = host.read(r.addr!, 8 * r.raw.length);
    const dv = new DataView(bytes.buffer);
    expect(r.raw, `${r.structure} at 0x${r.addr!.toString(16)}`).toEqual(r.raw.map((_, i) => dv.getBigUint64(8 * i, true)));
  }
}

/** What a fault means, without what the unit did about it (recorded, stalled, page request). */
export function essence(r: TranslateResult): number | Partial<FaultRecord> {
  if (typeof r === 'number') return r;
  const { recorded: _r, stall: _s, stag: _t, pageRequest: _p, prgIndex: _g, ...rest } = r;
  return rest;
}

/** Everything of the unit a traced walk must leave as it was. */
export function unitState(unit: SmmuV3, sids: readonly number[], ssids: readonly number[] = [0]): unknown {
  const internals = unit as unknown as { pendingIrqs: Set<string> };
  return {
    registers: unit.registers(),
    configCache: unit.configCache.size,
    stes: sids.map((s) => unit.configCache.peekSte(s) ?? null),
    cds: sids.flatMap((s) => ssids.map((ss) => unit.configCache.cd(s, ss) ?? null)),
    tlb: { size: unit.tlb.size, hits: unit.tlb.hits, misses: unit.tlb.misses, tags: unit.tlb.tagList() },
    atc: sids.map((s) => unit.endpoints.atcEntries(s)),
    prgs: sids.map((s) => [...(unit.endpoints.peek(s)?.pendingPrgs ?? [])]),
    nextPrg: sids.map((s) => unit.endpoints.peek(s)?.nextPrg ?? 0),
    stalls: [...unit.stalls.entries()],
    irqs: [...internals.pendingIrqs],
  };
}

/** A checksum of every written chunk of host memory (event and PRI queues included). */
export function memoryDigest(host: HostMemory): string {
  let h = 0x811c9dc5;
  let n = 0;
  for (const { pa, bytes } of host.image()) {
    const w = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
    h = Math.imul(h ^ pa, 16777619);
    for (let i = 0; i < w.length; i++) if (w[i] !== 0) h = Math.imul(h ^ w[i] ^ i, 16777619);
    n++;
  }
  return `${n}:${h >>> 0}`;
}
