import { listVendors, registerVendor, type IommuDriver, type MachineContext } from '@ioasid/core';

/**
 * Registers a test double of the flat IOMMU under `vendor` (once per process): the example
 * plugin with one known isolation bug planted in it, to prove the adversarial group finds it.
 */
export function plant(vendor: string, description: string, create: (ctx: MachineContext) => IommuDriver): string {
  if (!listVendors().some((r) => r.vendor === vendor)) registerVendor({ vendor, description, create });
  return vendor;
}
