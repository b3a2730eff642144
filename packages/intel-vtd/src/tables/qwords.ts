import type { HostMemory } from '@ioasid/core';

/** Reads `n` little-endian qwords at a host physical address (driver side and decoders). */
export function readQwords(host: HostMemory, pa: bigint, n: number): bigint[] {
  const base = Number(pa);
  const out: bigint[] = [];
  for (let k = 0; k < n; k++) out.push(host.u64(base + 8 * k));
  return out;
}

/** Writes qwords little-endian at a host physical address. */
export function writeQwords(host: HostMemory, pa: bigint, q: readonly bigint[]): void {
  const bytes = new Uint8Array(8 * q.length);
  const dv = new DataView(bytes.buffer);
  q.forEach((v, k) => dv.setBigUint64(8 * k, v, true));
  host.write(Number(pa), bytes);
}

export function hex(v: bigint | number): string {
  return `0x${v.toString(16)}`;
}
