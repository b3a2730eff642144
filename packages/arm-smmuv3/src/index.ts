import { registerVendor, type DependencyContainer, type MachineContext, type VendorRegistration } from '@ioasid/core';
import { SmmuV3Driver, VENDOR, type SmmuV3Options } from './driver.js';
import { FAULT_CATALOGUE } from './tables/fault-catalogue.js';
import { unitFromRegisters } from './hw/rebuild.js';

// Formats and table codecs (for outside checkers and the guest helper).
export * from './formats/lpae-fields.js';
export * from './formats/lpae-geometry.js';
export * from './formats/lpae.js';
export * from './formats/lpae-dirty.js';
export { lpaeFormatTestConfigs } from './formats/test-configs.js';
export * from './tables/ste.js';
export * from './tables/cd.js';
export * from './tables/l1-descriptors.js';
export * from './tables/commands.js';
export * from './tables/events.js';
export * from './tables/pri.js';
export * from './tables/stream-table.js';
export * from './tables/cd-table.js';
export { FAULT_CATALOGUE } from './tables/fault-catalogue.js';
// Hardware model.
export * from './hw/registers.js';
export * from './hw/features.js';
export { SmmuV3, type StalledTransaction } from './hw/smmu.js';
export { Tlb, nhTag, s2Tag, NO_ASID, TLB_SETS, TLB_WAYS, TLB_CAPACITY } from './hw/tlb.js';
export { walkStage, type StageConfig, type WalkFault, type WalkLeaf } from './hw/lpae-walk.js';
export { HTTU_NONE, HTTU_ACCESS, HTTU_ACCESS_DIRTY } from './hw/httu.js';
export { unitFromRegisters } from './hw/rebuild.js';
export { CACHE_ATC } from './hw/smmu.js';
export { CACHE_STE, CACHE_CD } from './hw/config-fetch.js';
export { CACHE_TLB } from './hw/walker.js';
// Kernel side.
export { SmmuV3Driver, VENDOR, type SmmuV3Options } from './driver.js';
export { S2Domain } from './domain-s2.js';
export { MSI_IOVA_BASE, MSI_IOVA_LENGTH } from './capabilities.js';
export { PasidTableDomain } from './domain-pasid-table.js';
export { abortSte, s1Ste, s2Ste, nestedSte, type S2Table, type S1Context } from './ste-builder.js';
export { s1Cd } from './cd-builder.js';
export { guestCdTable, guestS1Cd, guestS1Format, smmuGuestHelpers, type GuestCdParams } from './guest.js';
export { GUEST_DUMP_ENTRIES, GUEST_DUMP_READS, guestDumpBudget } from './lookup.js';
export { checkCdFormat, checkS1Format } from './bind-formats.js';

function optionsOf(ctx: MachineContext): SmmuV3Options {
  const o = ctx.options?.smmuv3;
  return o && typeof o === 'object' ? (o as SmmuV3Options) : {};
}

declare module '@ioasid/core' {
  interface PgtableFormatRegistry {
    /** A guest VMSAv8-64 stage-1 table, as a CD's TTB0 in a guest CD table points at it. */
    'arm-lpae-s1': { granule: 4096 | 16384 | 65536; ias: number };
    /** BIND_PASID_TABLE of a guest CD table (S1CDMAX: log2 of its entries). */
    'arm-smmuv3-cd': { layout: 'linear' | 'two-level'; s1cdmax: number };
  }
  interface VendorMachineOptions {
    /**
     * arm-smmuv3: the unit's features and stream-table layout (SmmuV3Options). Any object type-checks:
     * the driver checks it when the machine is built, EINVAL naming the field.
     */
    smmuv3?: SmmuV3Options | Readonly<Record<string, unknown>>;
  }
}

export const registration: VendorRegistration = {
  vendor: VENDOR,
  description: 'Arm SMMUv3: stream table → CD table → VMSAv8-64 stage 1 / stage 2 (4K, 16K, 64K granules), nested S1+S2 with guest CD tables',
  create: (ctx) => new SmmuV3Driver(ctx, optionsOf(ctx)),
  machineOptions: ['smmuv3'],
  defaultMachine: { devices: [{ name: 'dev0' }, { name: 'dev1', ats: true, pri: true }] },
  faults: FAULT_CATALOGUE,
  hardware: unitFromRegisters,
};

export function register(container?: DependencyContainer): void {
  registerVendor(registration, container);
}

register();
