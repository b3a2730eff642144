import type { IoasidInfo } from '@ioasid/core';
import { hex, size } from '../../output/format.js';
import { bytesToHex } from '../../output/json.js';

export function infoSummary(i: IoasidInfo): string {
  const parts = [`protocols ${i.protocols.join(',') || '-'}`, `nesting ${i.nesting}`];
  if (i.pageSizes.length) parts.push(`pages ${i.pageSizes.map(size).join(',')}`);
  if (i.permittedRanges.length) parts.push(`${i.permittedRanges.length} permitted range${i.permittedRanges.length > 1 ? 's' : ''}`);
  if (i.formats.length) parts.push(`${i.formats.length} pgtable format${i.formats.length > 1 ? 's' : ''}`);
  if (i.pasidTableFormats.length) parts.push(`${i.pasidTableFormats.length} PASID-table format${i.pasidTableFormats.length > 1 ? 's' : ''}`);
  parts.push(i.pasidBits ? `PASID ${i.pasidBits} bits` : 'no PASID');
  return parts.join('; ');
}

/** Bytes for a report: the first 16 in hex. */
export function shortBytes(b: Uint8Array): string {
  const s = bytesToHex(b.subarray(0, 16), ' ');
  return b.length > 16 ? `${s} … (${b.length} bytes)` : s;
}

export function span(start: bigint, length: bigint): string {
  return `${hex(start)}+${size(length)}`;
}

export { hex, size };
