import { toDwords, type TraceFieldValue, type TraceRead, type WalkTracer } from '@ioasid/core';
import { decodeCd } from '../tables/cd.js';
import { decodeSte } from '../tables/ste.js';
import type { ContextConfig } from './context-config.js';

/**
 * What a traced walk records for the SMMU's configuration structures, named as SMMUv3 names
 * them: 'L1STD' (§5.1, level 1 stream table descriptor), 'STE' (§5.2), 'L1CD' (§5.3, level 1 CD
 * table descriptor) and 'CD' (§5.4). Fields keep the specification's names. Only a traced walk
 * calls these.
 */

const CONFIG_MEANING: Readonly<Record<number, string>> = {
  0b100: 'bypass',
  0b101: 'stage 1 only',
  0b110: 'stage 2 only',
  0b111: 'stage 1 and stage 2',
};

/** 'Config = 0b110 (stage 2 only)'; 0b0xx aborts every transaction without an event. */
export function configDecided(config: number): string {
  return `Config = 0b${config.toString(2).padStart(3, '0')} (${CONFIG_MEANING[config] ?? 'abort'})`;
}

function record(t: WalkTracer, structure: string, addr: number, raw: bigint[], fields: Record<string, TraceFieldValue>, decided: string, index?: number): TraceRead {
  const r: TraceRead = index === undefined ? { structure, addr: BigInt(addr), raw, fields, decided } : { structure, index, addr: BigInt(addr), raw, fields, decided };
  t.read(r);
  return r;
}

function l1Raw(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** An L1STD: Span[4:0] and L2Ptr[51:6]. */
export function traceL1std(t: WalkTracer, addr: number, index: number, lo: number, hi: number, span: number, l2ptr: number, decided: string): void {
  record(t, 'L1STD', addr, [l1Raw(lo, hi)], { Span: span, L2Ptr: BigInt(l2ptr) }, decided, index);
}

/** An L1CD: V[0] and L2Ptr[51:12]. */
export function traceL1cd(t: WalkTracer, addr: number, index: number, lo: number, hi: number, v: number, l2ptr: number, decided: string): void {
  record(t, 'L1CD', addr, [l1Raw(lo, hi)], { V: v, L2Ptr: BigInt(l2ptr) }, decided, index);
}

/** An STE: V and Config, then the fields of the stages Config enables. */
export function traceSte(t: WalkTracer, addr: number, sid: number, words: Uint32Array, illegal: string | null): void {
  const f = decodeSte(words);
  const fields: Record<string, TraceFieldValue> = { V: f.V, Config: f.Config };
  const translating = f.V === 1 && (f.Config & 0b100) !== 0 && f.Config !== 0b100;
  if (translating && (f.Config & 1) !== 0) {
    Object.assign(fields, { S1Fmt: f.S1Fmt, S1CDMax: f.S1CDMax, S1DSS: f.S1DSS, S1STALLD: f.S1STALLD, S1ContextPtr: BigInt(f.S1ContextPtr) });
  }
  if (translating) fields.EATS = f.EATS;
  if (translating && (f.Config & 2) !== 0) {
    Object.assign(fields, {
      S2VMID: f.S2VMID,
      S2T0SZ: f.S2T0SZ,
      S2SL0: f.S2SL0,
      S2TG: f.S2TG,
      S2PS: f.S2PS,
      S2AA64: f.S2AA64,
      S2ENDI: f.S2ENDI,
      S2AFFD: f.S2AFFD,
      S2PTW: f.S2PTW,
      S2S: f.S2S,
      S2R: f.S2R,
      S2TTB: BigInt(f.S2TTB),
    });
  }
  const decided = f.V === 0 ? 'V = 0' : illegal === null ? configDecided(f.Config) : `ILLEGAL: ${illegal}`;
  record(t, 'STE', addr, toDwords(words, 8), fields, decided, sid);
}

/** A CD: V, the TTB0 walk's translation controls, ASID and TTB0. */
export function traceCd(t: WalkTracer, addr: number, ssid: number, words: Uint32Array, result: ContextConfig | string): void {
  const f = decodeCd(words);
  const fields: Record<string, TraceFieldValue> =
    f.V === 0
      ? { V: 0 }
      : { V: 1, T0SZ: f.T0SZ, TG0: f.TG0, EPD0: f.EPD0, ENDI: f.ENDI, IPS: f.IPS, AFFD: f.AFFD, AA64: f.AA64, S: f.S, R: f.R, A: f.A, ASID: f.ASID, TTB0: BigInt(f.TTB0) };
  let decided: string;
  if (typeof result === 'string') decided = f.V === 0 ? 'V = 0' : `ILLEGAL: ${result}`;
  else if (result.epd0) decided = 'EPD0 = 1: walks of the TTB0 range are disabled';
  else {
    const g = result.s1cfg.geo;
    decided = `V = 1: TG0 = ${g.granule / 1024}KB, T0SZ = ${64 - g.ias}, the stage 1 walk starts at level ${g.startLevel}`;
  }
  record(t, 'CD', addr, toDwords(words, 8), fields, decided, ssid);
}
