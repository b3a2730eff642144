// Formats and table codecs (for outside checkers and the guest helper).
export * from './formats/sv-pte.js';
export * from './formats/sv.js';
export { svFormatTestConfigs } from './formats/test-configs.js';
export * from './tables/atp.js';
export * from './tables/ddt.js';
export * from './tables/device-context.js';
export * from './tables/process-context.js';
export * from './tables/commands.js';
export * from './tables/fault-record.js';
export * from './tables/page-request.js';
export * from './tables/fault-catalogue.js';
// Hardware model.
export * from './hw/registers.js';
export { RiscvIommu } from './hw/unit.js';
export { Iotlb, tlbTag, NO_ID, type TlbEntry } from './hw/iotlb.js';
export { DirectoryCaches } from './hw/directory-caches.js';
export { svWalk, type StageConfig, type StageLeaf } from './hw/sv-walk.js';
export { fetchDeviceContext, dcMisconfigured } from './hw/device-context-fetch.js';
export { fetchProcessContext, pcMisconfigured } from './hw/process-context-fetch.js';
export { commandName } from './hw/command-consumer.js';
export type { WalkFault } from './hw/walk-env.js';
export { unitFromRegisters } from './hw/rebuild.js';
// Kernel side.
export { RiscvIommuDriver, VENDOR } from './driver.js';
export type { RidState } from './device-contexts.js';
export type { DomainHost } from './domain-host.js';
export { resolveOptions, type RiscvOptions } from './options.js';
export { KernelDirectory } from './kernel-directory.js';
export { CommandQueue, CQ_ENTRIES } from './cmdq.js';
export { FaultQueue, PageRequestQueue } from './fault-queues.js';
export { GStageDomain } from './domain-gstage.js';
export { UserPgtableDomain } from './domain-user-pgtable.js';
export { PasidTableDomain } from './domain-pasid-table.js';
export { composeDeviceContext } from './device-contexts.js';
export { riscvGuestHelpers } from './guest.js';
export { RISCV_SV, RISCV_PDT, checkSvFormat, checkPdtFormat } from './bind-formats.js';
export { GUEST_DUMP_LIMITS } from './lookup.js';

import { registerVendor, type DependencyContainer, type VendorRegistration } from '@ioasid/core';
import { RiscvIommuDriver, VENDOR } from './driver.js';
import { FAULT_CATALOGUE } from './tables/fault-catalogue.js';
import { unitFromRegisters } from './hw/rebuild.js';
import type { RiscvOptions } from './options.js';

declare module '@ioasid/core' {
  interface PgtableFormatRegistry {
    /** BIND_PGTABLE of a guest Sv39/Sv48/Sv57 first-stage table. */
    'riscv-sv': { mode: 39 | 48 | 57 };
    /** BIND_PASID_TABLE of a guest process-directory table. */
    'riscv-pdt': { mode: 'PD8' | 'PD17' | 'PD20' };
  }
  interface VendorMachineOptions {
    /** riscv-iommu: the unit's capabilities and the driver's DDT depth (RiscvOptions). */
    riscv?: RiscvOptions;
  }
}

export const registration: VendorRegistration = {
  vendor: VENDOR,
  description: 'RISC-V IOMMU v1.0: DDT → device context → PDT → Sv39/48/57 first stage over Sv39x4/48x4/57x4 G-stage, guest PDTs, in-memory command/fault/page-request queues',
  create: (ctx) => new RiscvIommuDriver(ctx),
  machineOptions: ['riscv'],
  defaultMachine: { devices: [{ name: 'dev0' }, { name: 'dev1', ats: true, pri: true }] },
  faults: FAULT_CATALOGUE,
  hardware: unitFromRegisters,
};

export function register(container?: DependencyContainer): void {
  registerVendor(registration, container);
}

register();
