import { HOST_PHYS_BITS, type HostMemory } from '@ioasid/core';

/** The widest host memory any machine has (its own may be smaller: `backed` tells). */
export const MEMORY_LIMIT = 2 ** HOST_PHYS_BITS;

/**
 * The unit's window on host physical memory: raw little-endian reads (and the A/D writes
 * first-level walks make). An address with no memory behind it is an access error the walker turns
 * into the fault reason for the structure it was fetching.
 */
export class PhysBus {
  constructor(readonly host: HostMemory) {}

  /** Whether host memory lies behind [pa, pa+len): above the machine's memory is an access error. */
  backed(pa: number, len: number): boolean {
    return pa >= 0 && pa + len <= this.host.limit;
  }

  /** The words holding `frame` (index them from wordBase(frame)); reading only. */
  words(frame: number): Uint32Array {
    return this.host.wordsForRead(frame);
  }

  wordBase(frame: number): number {
    return this.host.wordBase(frame);
  }

  lo(pa: number): number {
    return this.host.u32(pa);
  }

  hi(pa: number): number {
    return this.host.u32(pa + 4);
  }

  qword(pa: number): bigint {
    return this.host.u64(pa);
  }

  qwords(pa: number, n: number): bigint[] {
    const out: bigint[] = [];
    for (let k = 0; k < n; k++) out.push(this.host.u64(pa + 8 * k));
    return out;
  }

  /** Sets bits in the low word of the entry at `pa` (a 4-byte-aligned host address). */
  orLo(pa: number, bits: number): void {
    const frame = Math.floor(pa / 4096);
    const w = this.host.wordsForWrite(frame);
    const i = this.host.wordBase(frame) + ((pa % 4096) >>> 2);
    w[i] = (w[i] | bits) >>> 0;
  }

  /** Reads `n` consecutive 32-bit words at `pa` (4-byte aligned) into `out`. */
  readWords(pa: number, n: number, out: Uint32Array | number[]): void {
    for (let k = 0; k < n; k++) out[k] = this.host.u32(pa + 4 * k);
  }

  writeU32(pa: number, value: number): void {
    if (pa % 4 === 0) {
      const frame = Math.floor(pa / 4096);
      const w = this.host.wordsForWrite(frame);
      w[this.host.wordBase(frame) + ((pa % 4096) >>> 2)] = value >>> 0;
      return;
    }
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0, true);
    this.host.write(pa, b);
  }

  writeQwords(pa: number, q: readonly bigint[]): void {
    const b = new Uint8Array(8 * q.length);
    const dv = new DataView(b.buffer);
    q.forEach((v, k) => dv.setBigUint64(8 * k, v, true));
    this.host.write(pa, b);
  }
}
