import { fail, setAddr, type BitField } from '@ioasid/core';

/**
 * Table pointers the kernel writes (STE.S2TTB / S1ContextPtr, CD.TTB0, L1STD / L1CD L2Ptr,
 * STRTAB_BASE, the queue bases) are addresses held in place in a field: an address is never
 * truncated into one. An address at or above 2^bits (the field's reach, or the output size the
 * unit decodes it with) is refused with ERANGE, a misaligned one with EINVAL — before anything
 * is written.
 */
export function checkPointer(what: string, addr: number, align: number, bits: number): void {
  if (!Number.isSafeInteger(addr) || addr < 0 || addr % align !== 0) {
    fail('EINVAL', `${what} ${String(addr)} is not a ${align}-byte aligned address`);
  }
  if (addr >= 2 ** bits) fail('ERANGE', `${what} 0x${addr.toString(16)} does not fit a ${bits}-bit address`);
}

/** Bits of address an address field (bits held in place) reaches: its top bit + 1. */
export function pointerBits(f: BitField): number {
  return f.lo + f.width;
}

/** Writes an address field after checkPointer (against the field's reach and `limitBits`). */
export function setPointer(w: Uint32Array | number[], base: number, f: BitField, addr: number, limitBits = 64): void {
  checkPointer(f.name, addr, f.unit, Math.min(pointerBits(f), limitBits));
  setAddr(w, base, f, addr);
}
