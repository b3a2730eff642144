import type { PgtableFormat, Protocol } from '../base/info.js';
import type { PageResponseCode } from '../driver/driver.js';

/** Argument objects of the fd's commands, named after the proposal's fields. */

export interface RegisterMemoryArgs {
  vaddr: bigint;
  size: bigint;
}

/**
 * Vendor fields of ALLOC / CREATE_NESTING (the proposal's format-specific part), filled in by
 * vendor packages by module augmentation, as PgtableFormatRegistry is:
 *
 * ```ts
 * declare module '@ioasid/core' {
 *   interface AllocFieldRegistry {
 *     window?: { pageSize: bigint; size: bigint };
 *   }
 * }
 * ```
 *
 * At run time the driver's `allocFormatKeys` decides; any other key is EINVAL naming it.
 */
export interface AllocFieldRegistry {}

export type AllocArgs = { protocol: Protocol } & AllocFieldRegistry;

export type CreateNestingArgs = { parent: number } & AllocArgs;

export interface MapDmaArgs {
  ioasid: number;
  iova: bigint;
  vaddr: bigint;
  size: bigint;
  read?: boolean;
  write?: boolean;
}

export type UnmapDmaArgs = { ioasid: number; iova: bigint; size: bigint; all?: false } | { ioasid: number; all: true };

/** BIND_PGTABLE / BIND_PASID_TABLE. */
export interface BindArgs {
  ioasid: number;
  addr: bigint;
  format: PgtableFormat;
}

export type InvalidateArgs =
  | { ioasid: number; all: true; pasid?: number }
  | { ioasid: number; all?: false; iova: bigint; size: bigint; pasid?: number };

export interface PageResponseArgs {
  ioasid: number;
  id: number;
  code: PageResponseCode;
}

/** SET_DIRTY_TRACKING (iommufd IOMMU_HWPT_SET_DIRTY_TRACKING). */
export interface SetDirtyTrackingArgs {
  ioasid: number;
  enable: boolean;
}

/** GET_DIRTY_BITMAP (iommufd IOMMU_HWPT_GET_DIRTY_BITMAP): one bit per `pageSize` from `iova`. */
export interface GetDirtyBitmapArgs {
  ioasid: number;
  iova: bigint;
  size: bigint;
  pageSize: bigint;
  /** Leave the dirty state set (IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR). */
  noClear?: boolean;
}
