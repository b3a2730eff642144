import { defineConformanceSuite } from '@ioasid/conformance';
// Importing the plugin registers it (registerVendor) in core's DI container.
import '../src/index.js';

defineConformanceSuite({ vendor: 'riscv-iommu' });

// The same unit with the optional features off: no first stage (software nesting only), no PDT, no
// ATS, no A/D updating. The binding, page-request and dirty cases must be unsupported, each checking
// that the command is refused.
defineConformanceSuite({
  vendor: 'riscv-iommu',
  title: 'conformance: riscv-iommu (minimal: no first stage, no PDT, no ATS, no AMO_HWAD)',
  machineOptions: { riscv: { sv: [], pd: [], ats: false, amoHwad: false, svx4: [39], ddtLevels: 2 } },
});
