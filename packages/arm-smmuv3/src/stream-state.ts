import type { DeviceDesc } from '@ioasid/core';
import type { CdTable } from './tables/cd-table.js';
import type { S2Domain } from './domain-s2.js';
import type { UserPgtableDomain } from './domain-user-pgtable.js';
import type { PasidTableDomain } from './domain-pasid-table.js';

/**
 * The kernel's per-StreamID bookkeeping (Linux struct arm_smmu_master): which domains the
 * stream is attached to. The STE is always recomputed from this and written to memory; the
 * hardware never sees this object.
 */
export interface StreamState {
  readonly sid: number;
  readonly devices: Set<DeviceDesc>;
  /**
   * The domain attached at the StreamID (non-PASID traffic): the kernel-managed parent, or a
   * nesting child stacked on it (core detaches the parent before attaching the child and
   * re-attaches it after the child's detach).
   */
  rid: S2Domain | UserPgtableDomain | PasidTableDomain | null;
  /** Stage 1 children attached per SubstreamID. */
  readonly pasids: Map<number, UserPgtableDomain>;
  /** Kernel-managed domains attached per SubstreamID (through their stage 1 copies). */
  readonly kpasids: Map<number, S2Domain>;
  /** The kernel's CD table in host memory for those (stage 1 STE). */
  hcd: CdTable | null;
  /** The kernel's CD table for bound user page tables, reached through the parent's stage 2. */
  kcd: CdTable | null;
  kcdParent: S2Domain | null;
  /** The STE last written. */
  ste: Uint32Array | null;
}

/** The stage 2 (kernel-managed) domain behind the stream's attachments. */
export function streamParent(s: StreamState): S2Domain | null {
  if (s.rid) return 'parent' in s.rid ? s.rid.parent : s.rid;
  for (const c of s.pasids.values()) return c.parent;
  return null;
}

/** Whether the stream reaches `d` at all (StreamID, nesting child of it, or a SubstreamID). */
export function streamUses(s: StreamState, d: S2Domain): boolean {
  if (streamParent(s) === d) return true;
  for (const k of s.kpasids.values()) if (k === d) return true;
  return false;
}

export function streamAts(s: StreamState): boolean {
  for (const d of s.devices) if (d.ats) return true;
  return false;
}

export function streamPri(s: StreamState): boolean {
  for (const d of s.devices) if (d.pri) return true;
  return false;
}
