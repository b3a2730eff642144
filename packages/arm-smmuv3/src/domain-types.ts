import type { IommuDomain, RadixPageTable } from '@ioasid/core';
import type { LpaeFormat } from './formats/lpae.js';
import type { CdLayout } from './tables/cd-table.js';
import type { CdFields } from './tables/cd.js';
import type { S2Table } from './ste-builder.js';
import type { CdTablePointer } from './guest-cd.js';
import type { DeviceDesc } from '@ioasid/core';
import type { CdTable } from './tables/cd-table.js';

// What the master and the cache maintenance see of the two kinds of domain (Linux's
// arm_smmu_domain as the master code reads it). The domain classes implement these; the code
// that writes STEs and CDs tells them apart by `protocol`, so it never imports a domain module.

export interface BoundCdTable extends CdTablePointer {
  layout: CdLayout;
}

/** A kernel-managed stage 2 space (S2Domain). */
export interface SmmuS2Domain extends IommuDomain {
  readonly protocol: 'map';
  readonly fmt: LpaeFormat;
  readonly table: RadixPageTable;
  readonly vmid: number;
  readonly children: Set<SmmuChildDomain>;
  s1: { table: RadixPageTable; asid: number } | null;
  /** Dirty logging on (STE.S2HD, CD.HD, writable-clean leaves). */
  readonly tracking: boolean;
  s2Table(): S2Table;
  ensureS1(): void;
  dropUnusedS1(): void;
  s1Cd(): Uint32Array;
}

/** A nesting child that is a guest's whole CD table (PasidTableDomain). */
export interface SmmuPasidTableDomain extends IommuDomain {
  readonly protocol: 'user-pasid-table';
  readonly parent: SmmuS2Domain;
  readonly vmid: number;
  bound: BoundCdTable | null;
  readonly streams: Set<StreamState>;
  guestCd(ssid: number): { gpa: number; fields: CdFields } | null;
}

export type SmmuChildDomain = SmmuPasidTableDomain;
export type SmmuDomain = SmmuS2Domain | SmmuChildDomain;

/** One of this driver's domains (core hands them back as IommuDomain). */
export function asSmmuDomain(d: IommuDomain | undefined): SmmuDomain | null {
  if (!d) return null;
  return d.protocol === 'map' || d.protocol === 'user-pasid-table' ? (d as SmmuDomain) : null;
}

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
  rid: SmmuDomain | null;
  /** Kernel-managed domains attached per SubstreamID (through their stage 1 copies). */
  readonly kpasids: Map<number, SmmuS2Domain>;
  /** The kernel's CD table in host memory for those (stage 1 STE). */
  hcd: CdTable | null;
  /** The STE last written. */
  ste: Uint32Array | null;
  /** Writes the STE the attachments call for, with the commands that make the unit see it. */
  installSte(): void;
}

