import { HOST_PHYS_BITS, type HostMemory } from '@ioasid/core';

/**
 * The SMMU's view of the system bus: 32-bit little-endian reads of host physical memory. RAM
 * occupies [0, the machine's host memory size) (at most 2^HOST_PHYS_BITS); an access above it
 * (still inside a 48-bit OAS) finds no memory and ends in an external abort, which the walker
 * reports as F_WALK_EABT, F_STE_FETCH or F_CD_FETCH.
 */
export const RAM_LIMIT = 2 ** HOST_PHYS_BITS;

export class Bus {
  constructor(readonly host: HostMemory) {}

  /** Whether `bytes` at `pa` are backed by RAM. */
  present(pa: number, bytes: number): boolean {
    return pa >= 0 && pa + bytes <= this.host.limit;
  }

  u32(pa: number): number {
    return this.host.u32(pa);
  }

  /** Reads `count` words at `pa` into `out` (pa 4-byte aligned, inside RAM). */
  readWords(pa: number, out: Uint32Array, count = out.length): void {
    for (let k = 0; k < count; k++) out[k] = this.host.u32(pa + 4 * k);
  }

  /** Writes one 32-bit little-endian word at `pa` (a hardware update of a descriptor). */
  writeU32(pa: number, value: number): void {
    this.host.write(pa, new Uint8Array([value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24]));
  }

  writeWords(pa: number, words: Uint32Array): void {
    this.host.write(pa, new Uint8Array(words.buffer, words.byteOffset, words.byteLength));
  }
}
