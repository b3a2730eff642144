import { fail, type GuestKernelHelpers, type GuestMemory, type GuestPasidEntry, type PgtableFormat } from '@ioasid/core';
import { flatFormat, S1_MAX_INPUT_BITS, S1_MIN_INPUT_BITS } from './format.js';
import { GUEST_PASID_ENTRY_BYTES, encodeGuestPasidEntry, qwordsToBytes } from './tables.js';

/** The bindable stage-1 format: `{ kind: 'flat-v1', inputBits }` (13..the CAP maximum). */
export const FLAT_V1 = 'flat-v1';
/** The bindable PASID-table format: `{ kind: 'flat-pasid-table', entriesLog2 }`. */
export const FLAT_PASID_TABLE = 'flat-pasid-table';

/** Validates a stage-1 format a user passes back; returns its input bits (EINVAL otherwise). */
export function checkS1Format(format: PgtableFormat, maxBits = S1_MAX_INPUT_BITS): number {
  if (format.kind !== FLAT_V1) fail('EINVAL', `flat-iommu binds '${FLAT_V1}' tables only (got '${format.kind}')`);
  const bits = format.inputBits;
  if (typeof bits !== 'number' || !Number.isInteger(bits) || bits < S1_MIN_INPUT_BITS || bits > maxBits) {
    fail('EINVAL', `${FLAT_V1}.inputBits must be an integer in ${S1_MIN_INPUT_BITS}..${maxBits} (got ${String(bits)})`);
  }
  const extra = Object.keys(format).filter((k) => k !== 'kind' && k !== 'inputBits');
  if (extra.length > 0) fail('EINVAL', `${FLAT_V1} has no parameter ${extra.join(', ')}`);
  return bits;
}

export function checkPasidTableFormat(format: PgtableFormat, pasidBits: number): number {
  if (format.kind !== FLAT_PASID_TABLE) fail('EINVAL', `flat-iommu binds '${FLAT_PASID_TABLE}' PASID tables only (got '${format.kind}')`);
  const log2 = format.entriesLog2;
  const max = Math.min(pasidBits, 8);
  if (typeof log2 !== 'number' || !Number.isInteger(log2) || log2 < 1 || log2 > max) {
    fail('EINVAL', `${FLAT_PASID_TABLE}.entriesLog2 must be an integer in 1..${max} (got ${String(log2)})`);
  }
  const extra = Object.keys(format).filter((k) => k !== 'kind' && k !== 'entriesLog2');
  if (extra.length > 0) fail('EINVAL', `${FLAT_PASID_TABLE} has no parameter ${extra.join(', ')}`);
  return log2;
}

function entryBytes(e: GuestPasidEntry): Uint8Array {
  const bits = checkS1Format(e.pgtable);
  return qwordsToBytes([encodeGuestPasidEntry({ valid: true, s1Bits: bits, s1Root: Number(e.root >> 12n) })]);
}

/** What the guest kernel needs to build what it binds (used by the conformance kit). */
export const flatGuestHelpers: GuestKernelHelpers = {
  pageTableFormat(format) {
    return flatFormat(checkS1Format(format));
  },

  buildPasidTable(guest: GuestMemory, format, entries) {
    const log2 = checkPasidTableFormat(format, 20);
    const frames = Math.max(1, Math.ceil((2 ** log2 * GUEST_PASID_ENTRY_BYTES) / 4096));
    const table = BigInt(guest.allocFrames(frames, frames)) << 12n;
    for (const e of entries) {
      if (e.pasid >= 2 ** log2) fail('EINVAL', `PASID ${e.pasid} does not fit a table of 2^${log2} entries`);
      guest.write(table + BigInt(e.pasid * GUEST_PASID_ENTRY_BYTES), entryBytes(e));
    }
    return table;
  },

  updatePasidEntry(guest, table, format, entry) {
    const log2 = checkPasidTableFormat(format, 20);
    if (entry.pasid >= 2 ** log2) fail('EINVAL', `PASID ${entry.pasid} does not fit a table of 2^${log2} entries`);
    const bytes = entry.root === undefined ? new Uint8Array(GUEST_PASID_ENTRY_BYTES) : entryBytes(entry as GuestPasidEntry);
    guest.write(table + BigInt(entry.pasid * GUEST_PASID_ENTRY_BYTES), bytes);
  },
};
