import type { HostMemory } from '@ioasid/core';
import { CdTable, directSpace } from './tables/cd-table.js';
import type { IdCaps } from './hw/features.js';
import { LINEAR_CDMAX } from './capabilities.js';
import { UserPgtableDomain } from './domain-user-pgtable.js';
import { streamParent, type StreamState } from './stream-state.js';

/** The stream's kernel CD table, created in the parent's MSI hole on first use. */
export function ensureKcd(caps: IdCaps, s: StreamState): CdTable {
  if (s.kcd) return s.kcd;
  const p = streamParent(s)!;
  const two = caps.cd2l;
  s.kcd = CdTable.create(p.holeSpace(), two ? 'two-level' : 'linear', two ? caps.ssidBits : Math.min(caps.ssidBits, LINEAR_CDMAX));
  s.kcdParent = p;
  return s.kcd;
}

/** Frees the kernel CD table once no stage 1 child is attached (the STE no longer points at it). */
export function releaseKcd(s: StreamState): void {
  if (!s.kcd) return;
  if (s.rid instanceof UserPgtableDomain || s.pasids.size > 0) return;
  s.kcd.destroy();
  s.kcd = null;
  s.kcdParent = null;
}

/** The stream's CD table in host memory for kernel-managed spaces on SubstreamIDs. */
export function ensureHcd(host: HostMemory, caps: IdCaps, s: StreamState): CdTable {
  if (!s.hcd) {
    const two = caps.cd2l;
    s.hcd = CdTable.create(directSpace(host, caps.oasBits), two ? 'two-level' : 'linear', two ? caps.ssidBits : Math.min(caps.ssidBits, LINEAR_CDMAX));
  }
  return s.hcd;
}

export function releaseHcd(s: StreamState): void {
  if (s.hcd && s.kpasids.size === 0) {
    s.hcd.destroy();
    s.hcd = null;
  }
}
