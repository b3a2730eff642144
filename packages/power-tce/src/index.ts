import { fail, registerVendor, type DependencyContainer, type MachineContext, type VendorRegistration } from '@ioasid/core';
import { PowerNvIommu, type PowerNvOptions } from './driver.js';
import { PHB_DMA_FAULTS } from './hw/dma-errors.js';
import { phb4FromRegisters } from './hw/from-registers.js';

export * from './log2.js';
export * from './formats/tce.js';
export { tceFormatTestConfigs } from './formats/test-configs.js';
export * from './tables/rtt.js';
export * from './tables/tve.js';
export * from './tables/tve-real.js';
export * from './hw/registers.js';
export * from './hw/dma-errors.js';
export * from './hw/pe-error-state.js';
export * from './hw/tce-kill.js';
export * from './hw/tce-cache.js';
export * from './hw/rid-cache.js';
export * from './hw/phb.js';
export * from './hw/phb-trace.js';
export * from './hw/from-registers.js';
export { translateDma } from './hw/walker.js';
export * from './opal.js';
export * from './window.js';
export * from './tce-window.js';
export * from './domain.js';
export * from './driver.js';

/** PEs a PHB4 can have (see optionsOf). */
const MAX_PES = 512;

function optionsOf(ctx: MachineContext): PowerNvOptions {
  const o = (ctx.options['power-tce'] ?? ctx.options) as Record<string, unknown>;
  const n = o.tceCacheEntries;
  if (n !== undefined && !(typeof n === 'number' && Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0 && n <= 1 << 20)) {
    fail('EINVAL', `tceCacheEntries must be a power of two from 1 to 2^20 (got ${String(n)})`);
  }
  // PE numbers: PHB_TCE_KILL_PENUM is 9 bits and the TVT (PHB_IODA_AD_TADR) has 2 entries per PE
  // in 10 bits, so at most 512 PEs; the IODA tables are indexed with a power-of-two mask; one PE
  // is the reserved one, so at least 2.
  const pes = o.numPes;
  if (pes !== undefined && !(typeof pes === 'number' && Number.isInteger(pes) && pes >= 2 && pes <= MAX_PES && (pes & (pes - 1)) === 0)) {
    fail('EINVAL', `numPes must be a power of two from 2 to ${MAX_PES} (got ${String(pes)})`);
  }
  if (o.hw560152 !== undefined && typeof o.hw560152 !== 'boolean') fail('EINVAL', `hw560152 must be a boolean (got ${String(o.hw560152)})`);
  return {
    numPes: pes as number | undefined,
    hw560152: o.hw560152 as boolean | undefined,
    tceCacheEntries: typeof o.tceCacheEntries === 'number' ? o.tceCacheEntries : undefined,
  };
}

declare module '@ioasid/core' {
  interface AllocFieldRegistry {
    /** power-tce ALLOC: a dynamic DMA window (DDW) at bus address 0x0800000000000000. */
    window?: { pageSize: bigint; size: bigint; levels?: number };
    /** power-tce ALLOC: keep the default 32-bit window beside `window` (default: only without one). */
    defaultWindow?: boolean;
  }
}

// Typed `unknown`: optionsOf checks each value when the machine is built (EINVAL naming it).
declare module '@ioasid/core' {
  interface VendorMachineOptions {
    /** power-tce: the three options below grouped under the vendor's name. */
    'power-tce'?: { numPes?: unknown; hw560152?: unknown; tceCacheEntries?: unknown };
    /** power-tce: PEs of the PHB, a power of two from 2 to 512 (number). */
    numPes?: unknown;
    /** power-tce: skiboot's HW560152 workaround, page kills become PE kills (boolean; default true). */
    hw560152?: unknown;
    /** power-tce: entries of the PHB's TCE cache, a power of two from 1 to 2^20 (number). */
    tceCacheEntries?: unknown;
  }
}

export const powerTceVendor: VendorRegistration = {
  vendor: 'power-tce',
  description: 'POWER9 PHB4 (IODA3): RID translation table, TVT windows, big-endian multi-level TCE tables, EEH freeze',
  create: (ctx: MachineContext) => new PowerNvIommu(ctx.hostMemory, optionsOf(ctx)),
  machineOptions: ['power-tce', 'numPes', 'hw560152', 'tceCacheEntries'],
  faults: PHB_DMA_FAULTS,
  hardware: phb4FromRegisters,
};

export function register(container?: DependencyContainer): void {
  registerVendor(powerTceVendor, container);
}

register();
