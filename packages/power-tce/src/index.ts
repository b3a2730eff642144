import { fail, registerVendor, type DependencyContainer, type MachineContext, type VendorRegistration } from '@ioasid/core';
import { PowerNvIommu, type PowerNvOptions } from './driver.js';

export * from './log2.js';
export * from './formats/tce.js';
export * from './tables/rtt.js';
export * from './tables/tve.js';
export * from './hw/registers.js';
export * from './hw/dma-errors.js';
export * from './hw/tce-kill.js';
export * from './hw/tce-cache.js';
export * from './hw/rid-cache.js';
export * from './hw/phb.js';
export { translateDma } from './hw/walker.js';
export * from './opal.js';
export * from './window.js';
export * from './domain.js';
export * from './driver.js';

function optionsOf(ctx: MachineContext): PowerNvOptions {
  const o = (ctx.options['power-tce'] ?? ctx.options) as Record<string, unknown>;
  const n = o.tceCacheEntries;
  if (n !== undefined && !(typeof n === 'number' && Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0 && n <= 1 << 20)) {
    fail('EINVAL', `tceCacheEntries must be a power of two from 1 to 2^20 (got ${String(n)})`);
  }
  return {
    numPes: typeof o.numPes === 'number' ? o.numPes : undefined,
    hw560152: typeof o.hw560152 === 'boolean' ? o.hw560152 : undefined,
    tceCacheEntries: typeof o.tceCacheEntries === 'number' ? o.tceCacheEntries : undefined,
  };
}

export const powerTceVendor: VendorRegistration = {
  vendor: 'power-tce',
  description: 'POWER9 PHB4 (IODA3): RID translation table, TVT windows, big-endian multi-level TCE tables, EEH freeze',
  create: (ctx: MachineContext) => new PowerNvIommu(ctx.hostMemory, optionsOf(ctx)),
};

export function register(container?: DependencyContainer): void {
  registerVendor(powerTceVendor, container);
}

register();
