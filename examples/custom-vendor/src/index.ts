import { registerVendor, type VendorRegistration } from '@ioasid/core';
import { FlatIommuDriver, type FlatOptions } from './driver.js';

/**
 * The flat IOMMU: a deliberately small fourth vendor. Importing this module registers it in
 * core's DI container under the IOMMU_DRIVER token, so `createMachine({ vendor: 'flat-iommu' })`
 * and the conformance kit can find it.
 */
declare module '@ioasid/core' {
  interface PgtableFormatRegistry {
    /** BIND_PGTABLE of a guest flat table. */
    'flat-v1': { inputBits: number };
    /** BIND_PASID_TABLE of a guest flat PASID table of 2^entriesLog2 entries. */
    'flat-pasid-table': { entriesLog2: number };
  }
  interface VendorMachineOptions {
    /** flat-iommu: which features the unit has (FlatOptions). */
    flat?: FlatOptions;
  }
}

export const flatIommu: VendorRegistration = {
  vendor: 'flat-iommu',
  description: 'flat one-level IOMMU (example plugin): per-RID context table, flat 64-bit entries, IOTLB cleared by INV_CMD',
  create: (ctx) => new FlatIommuDriver(ctx),
  machineOptions: ['flat'],
};

registerVendor(flatIommu);

export { FlatIommuDriver, MapDomain, NestedDomain, PasidTableDomain, MSI_HOLE, type FlatOptions } from './driver.js';
export { FlatHardware, FAULT, CAP_DL, INV_GLOBAL, INV_CONTEXT, INV_PASID_CACHE, INV_IOTLB_DOMAIN, INV_IOTLB_PAGES, encodeCap, decodeCap, invCommand, type CapFields, type FaultName, type FlatRegName } from './hw.js';
export { flatFormat, decodeFlatEntry, encodeFlatEntry, FLAT_V, FLAT_R, FLAT_W, FLAT_D, FLAT_RSVD_HI, S1_MAX_INPUT_BITS, S1_MIN_INPUT_BITS, S2_INPUT_BITS } from './format.js';
export { flatFormatTestConfigs } from './test-configs.js';
export { dirtyHooks, type DirtyHooks } from './dirty.js';
export { flatGuestHelpers, checkS1Format, checkPasidTableFormat, FLAT_V1, FLAT_PASID_TABLE } from './guest.js';
export * from './tables.js';
