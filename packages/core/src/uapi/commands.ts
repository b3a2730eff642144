/** ioctl numbers of the proposal: _IO(IOASID_TYPE, IOASID_BASE + n). */
export const IOASID_TYPE = 0x3b; // ';', as VFIO_TYPE
export const IOASID_BASE = 100;

function io(nr: number): number {
  return (IOASID_TYPE << 8) | (IOASID_BASE + nr);
}

export const IOASID_CHECK_EXTENSION = io(0);
export const IOASID_REGISTER_MEMORY = io(1);
export const IOASID_UNREGISTER_MEMORY = io(2);
export const IOASID_ALLOC = io(3);
export const IOASID_FREE = io(4);
export const IOASID_GET_INFO = io(5);
export const IOASID_MAP_DMA = io(6);
export const IOASID_UNMAP_DMA = io(7);
export const IOASID_CREATE_NESTING = io(8);
export const IOASID_BIND_PGTABLE = io(9);
/** Withdrawn for v2 (FREE unbinds); the number stays reserved. */
export const IOASID_UNBIND_PGTABLE = io(10);
export const IOASID_BIND_PASID_TABLE = io(11);
/** Withdrawn for v2 (FREE unbinds); the number stays reserved. */
export const IOASID_UNBIND_PASID_TABLE = io(12);
export const IOASID_INVALIDATE_CACHE = io(13);
export const IOASID_READ_FAULTS = io(14);
export const IOASID_PAGE_RESPONSE = io(15);
export const IOASID_DUMP_PGTABLE = io(16);
export const IOASID_LOOKUP = io(17);
/** Dirty tracking, as iommufd's IOMMU_HWPT_SET_DIRTY_TRACKING / IOMMU_HWPT_GET_DIRTY_BITMAP. */
export const IOASID_SET_DIRTY_TRACKING = io(18);
export const IOASID_GET_DIRTY_BITMAP = io(19);

export const IOASID_COMMANDS: Record<string, number> = {
  IOASID_CHECK_EXTENSION,
  IOASID_REGISTER_MEMORY,
  IOASID_UNREGISTER_MEMORY,
  IOASID_ALLOC,
  IOASID_FREE,
  IOASID_GET_INFO,
  IOASID_MAP_DMA,
  IOASID_UNMAP_DMA,
  IOASID_CREATE_NESTING,
  IOASID_BIND_PGTABLE,
  IOASID_UNBIND_PGTABLE,
  IOASID_BIND_PASID_TABLE,
  IOASID_UNBIND_PASID_TABLE,
  IOASID_INVALIDATE_CACHE,
  IOASID_READ_FAULTS,
  IOASID_PAGE_RESPONSE,
  IOASID_DUMP_PGTABLE,
  IOASID_LOOKUP,
  IOASID_SET_DIRTY_TRACKING,
  IOASID_GET_DIRTY_BITMAP,
};

/** CHECK_EXTENSION arguments. */
export const IOASID_EXTENSIONS = ['pre-registration', 'software-nesting', 'hardware-nesting', 'page-faults', 'dirty-tracking', 'unmap-all'] as const;
export type IoasidExtension = (typeof IOASID_EXTENSIONS)[number];
