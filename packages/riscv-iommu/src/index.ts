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
