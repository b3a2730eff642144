import { DmaFault, type FaultRecord } from '@ioasid/core';
import { CheckFailed } from '../values.js';
import { shortBytes } from './describe.js';

export function checkBytes(what: string, got: Uint8Array, want: Uint8Array): void {
  if (got.length !== want.length || got.some((b, i) => b !== want[i])) {
    throw new CheckFailed(`${what}: read ${shortBytes(got)}, expected ${shortBytes(want)}`);
  }
}

/** The fault names a step accepts on this vendor (empty: any fault). */
export function acceptedFaults(expect: unknown, vendor: string): string[] {
  if (expect === true || expect === undefined) return [];
  if (typeof expect === 'string') return [expect];
  if (Array.isArray(expect)) return expect.map(String);
  const perVendor = (expect as Record<string, string | string[]>)[vendor];
  if (perVendor === undefined) return [];
  return Array.isArray(perVendor) ? perVendor : [perVendor];
}

function recordText(r: FaultRecord): string {
  return `${r.name} (code ${r.code}) at 0x${r.iova.toString(16)}${r.pasid !== undefined ? ` PASID ${r.pasid}` : ''}${r.explain ? ` — ${r.explain}` : ''}`;
}

/**
 * Runs a DMA and holds it to the step's expectation: with `fault`, it must be blocked with one of
 * the accepted names; without, it must go through.
 */
export function withFaultExpectation<T>(expect: unknown, vendor: string, dma: () => T): { value?: T; fault?: FaultRecord; detail: string } {
  let value: T;
  try {
    value = dma();
  } catch (e) {
    if (!(e instanceof DmaFault)) throw e;
    if (expect === undefined) throw new CheckFailed(`DMA blocked: ${recordText(e.record)}`);
    const names = acceptedFaults(expect, vendor);
    if (names.length > 0 && !names.includes(e.record.name)) {
      throw new CheckFailed(`DMA blocked with ${recordText(e.record)}, expected ${names.join(' or ')}`);
    }
    return { fault: e.record, detail: `blocked as expected: ${recordText(e.record)}` };
  }
  if (expect !== undefined) {
    const names = acceptedFaults(expect, vendor);
    throw new CheckFailed(`DMA went through, expected a fault${names.length ? ` (${names.join(' or ')})` : ''}`);
  }
  return { value, detail: '' };
}

/** Deep equality of GET_INFO values against what a scenario wrote (bigint and number alike, keys in any order). */
export function sameValue(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v))) return `n${v}`;
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${k}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'undefined';
}
