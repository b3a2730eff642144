/** GET_INFO shapes. */
export type Protocol = 'map' | 'user-pgtable' | 'user-pasid-table';
export type NestingKind = 'none' | 'software' | 'hardware';

export interface IovaRange {
  start: bigint;
  /** Inclusive. */
  last: bigint;
}

import type { PgtableFormat } from './pgtable-formats.js';

export type { PgtableFormat } from './pgtable-formats.js';

export interface IoasidInfo {
  protocols: Protocol[];
  nesting: NestingKind;
  pageSizes: bigint[];
  permittedRanges: IovaRange[];
  formats: PgtableFormat[];
  pasidTableFormats: PgtableFormat[];
  pasidBits: number;
  coherent: boolean;
  enqcmd: boolean;
  pageRequest: boolean;
  ats: boolean;
  /**
   * The IOMMU logs DMA writes in its table entries (SET_DIRTY_TRACKING / GET_DIRTY_BITMAP). A
   * driver may leave it out (false); GET_INFO always says it.
   */
  dirtyTracking?: boolean;
}
