import { listVendors, registerVendor, type DmaRequest, type IommuDriver, type MachineContext, type TranslateResult } from '@ioasid/core';
import type { FlatIommuDriver } from '@ioasid-example/flat-iommu';

/**
 * Registers a test double of the flat IOMMU under `vendor` (once per process): the example
 * plugin with one known isolation bug planted in it, to prove the adversarial group finds it.
 */
export function plant(vendor: string, description: string, create: (ctx: MachineContext) => IommuDriver): string {
  // The double is the example's driver class: it answers to the name it is registered under.
  const named = (ctx: MachineContext): IommuDriver => Object.defineProperty(create(ctx), 'vendor', { value: vendor });
  if (!listVendors().some((r) => r.vendor === vendor)) registerVendor({ vendor, description, create: named });
  return vendor;
}

/**
 * The bus sends DMA to the driver's unit: this points the unit's translate at the double's
 * (planted) `translate` and returns the real walk for the double to call.
 */
export function routeUnitThrough(driver: FlatIommuDriver): (req: DmaRequest) => TranslateResult {
  const walk = driver.unit.translate.bind(driver.unit);
  driver.unit.translate = (req: DmaRequest) => driver.translate(req);
  return walk;
}
