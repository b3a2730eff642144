import type { HostMemory } from '@ioasid/core';

/**
 * The RID translation table (skiboot include/phb4.h, QEMU pnv_phb4_resolve_pe): one 2-byte
 * big-endian PE number per PCIe requester ID, 64K entries, 128 KiB, naturally aligned, in host
 * memory at the address PHB_RTT_BAR holds.
 */
export const RTT_TABLE_ENTRIES = 0x10000;
export const RTT_ENTRY_SIZE = 2;
export const RTT_TABLE_SIZE = RTT_TABLE_ENTRIES * RTT_ENTRY_SIZE;
export const RTT_TABLE_FRAMES = RTT_TABLE_SIZE / 4096;

/** Host address of the entry for `rid`. */
export function rteAddr(rttBase: number, rid: number): number {
  return rttBase + RTT_ENTRY_SIZE * rid;
}

/** The PE number the RTT gives `rid` (reads host memory only). */
export function readRte(mem: HostMemory, rttBase: number, rid: number): number {
  const a = rteAddr(rttBase, rid);
  const word = mem.u32(a - (a % 4));
  // Bytes as stored: a big-endian u16 at offset 0 or 2 of the little-endian word.
  return a % 4 === 0 ? ((word & 0xff) << 8) | ((word >>> 8) & 0xff) : (((word >>> 16) & 0xff) << 8) | (word >>> 24);
}

export function writeRte(mem: HostMemory, rttBase: number, rid: number, pe: number): void {
  mem.write(rteAddr(rttBase, rid), new Uint8Array([(pe >>> 8) & 0xff, pe & 0xff]));
}

/** Sets every entry of the table at `baseFrame` to `pe` (skiboot fills it with the reserved PE#). */
export function fillRtt(mem: HostMemory, baseFrame: number, pe: number): void {
  const hi = (pe >>> 8) & 0xff;
  const lo = pe & 0xff;
  const word = (hi | (lo << 8) | (hi << 16) | (lo << 24)) >>> 0;
  for (let f = 0; f < RTT_TABLE_FRAMES; f++) {
    const w = mem.wordsForWrite(baseFrame + f);
    const b = mem.wordBase(baseFrame + f);
    w.fill(word, b, b + 1024);
  }
}
