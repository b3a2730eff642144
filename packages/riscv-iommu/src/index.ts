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
