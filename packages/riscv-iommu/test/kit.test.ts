import { defineConformanceSuite } from '@ioasid/conformance';
// Importing the plugin registers it (registerVendor) in core's DI container.
import '../src/index.js';

defineConformanceSuite({ vendor: 'riscv-iommu' });
