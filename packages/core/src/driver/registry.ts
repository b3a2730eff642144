import { container, type DependencyContainer } from '../di.js';
import { fail } from '../base/errors.js';
import type { VendorRegistration } from './driver.js';
import { IOMMU_DRIVER } from './tokens.js';

/** Registers a vendor in `target` (the root container by default); idempotent per vendor name. */
export function registerVendor(reg: VendorRegistration, target: DependencyContainer = container): void {
  if (listVendors(target).some((r) => r.vendor === reg.vendor)) return;
  target.register(IOMMU_DRIVER, { useValue: reg });
}

export function listVendors(from: DependencyContainer = container): VendorRegistration[] {
  return from.isRegistered(IOMMU_DRIVER, true) ? from.resolveAll(IOMMU_DRIVER) : [];
}

export function findVendor(vendor: string, from: DependencyContainer = container): VendorRegistration {
  const all = listVendors(from);
  const reg = all.find((r) => r.vendor === vendor);
  if (!reg) {
    fail('ENODEV', `vendor '${vendor}' is not registered (registered: ${all.map((r) => r.vendor).join(', ') || 'none'}; import its package first)`);
  }
  return reg;
}
