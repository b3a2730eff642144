import { findVendor, type VendorRegistration } from '@ioasid/core';
// The test-only mock IOMMU of core's own suite (registers itself as 'mock').
import '../../core/test/mock-driver.js';
import { parseScenario, type LoadedScenario } from '../src/scenario/load.js';

export function mockVendor(): VendorRegistration {
  return findVendor('mock');
}

/** A scenario from YAML text; `steps` is indented by the caller. */
export function scenario(text: string, file = 'test.yaml'): LoadedScenario {
  return parseScenario(text, file);
}
