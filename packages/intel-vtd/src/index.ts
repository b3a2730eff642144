import { fail, registerVendor, type DependencyContainer, type MachineContext, type VendorRegistration } from '@ioasid/core';
import { VtdDriver } from './driver.js';
import { faultReasons } from './hw/fault-reasons.js';
import { DEFAULT_UNIT_CONFIG, type UnitConfig } from './hw/registers.js';
import { vtdHardware } from './hw/standalone.js';

export * from './bits.js';
export * from './formats/pte-common.js';
export * from './formats/second-level.js';
export * from './formats/first-level.js';
export { vtdFormatTestConfigs } from './formats/test-configs.js';
export * from './tables/root-table.js';
export * from './tables/context-entry.js';
export * from './tables/pasid-dir.js';
export * from './tables/pasid-entry.js';
export * from './tables/inv-desc.js';
export * from './tables/page-request.js';
export * from './hw/registers.js';
export * from './hw/fault-reasons.js';
export * from './hw/unit.js';
export { vtdHardware } from './hw/standalone.js';
export { TRANSLATED_BEYOND_HAW } from './hw/translated.js';
export { ROOT_ENTRY, CONTEXT_ENTRY, PASID_DIR_ENTRY, PASID_TABLE_ENTRY } from './hw/trace-structures.js';
export { VtdDriver } from './driver.js';
export { VtdDomain } from './domain.js';
export { VtdSecondLevelDomain } from './domain-second-level.js';
export { VtdNestedDomain } from './domain-nested.js';

/** Machine options this vendor reads: `vtdAddressWidth` (48 or 57), `vtdFaultRecords`. */
export function unitConfig(options: Readonly<Record<string, unknown>>): UnitConfig {
  const aw = options.vtdAddressWidth ?? DEFAULT_UNIT_CONFIG.addressWidth;
  if (aw !== 48 && aw !== 57) fail('EINVAL', `vtdAddressWidth must be 48 or 57 (got ${String(aw)})`);
  const nfr = options.vtdFaultRecords ?? DEFAULT_UNIT_CONFIG.faultRecords;
  if (typeof nfr !== 'number' || !Number.isInteger(nfr) || nfr < 1 || nfr > 256) fail('EINVAL', `vtdFaultRecords must be 1..256 (got ${String(nfr)})`);
  return { addressWidth: aw, faultRecords: nfr };
}

declare module '@ioasid/core' {
  interface PgtableFormatRegistry {
    /** BIND_PGTABLE of a guest x86-64 (first-level) table, 4- or 5-level. */
    'vtd-first-level': { levels: 4 | 5 };
  }
  interface AllocFieldRegistry {
    /** intel-vtd CREATE_NESTING(user-pgtable): the first-level format the child will bind ('vtd-first-level'). */
    kind?: string;
    /** intel-vtd CREATE_NESTING(user-pgtable): its paging levels, 4 or 5. */
    levels?: number;
  }
  interface VendorMachineOptions {
    /** intel-vtd: the unit's address width, 48 (4-level) or 57 (5-level paging). */
    vtdAddressWidth?: 48 | 57;
    /** intel-vtd: number of fault recording registers, 1..256. */
    vtdFaultRecords?: number;
  }
}

export const intelVtd: VendorRegistration = {
  vendor: 'intel-vtd',
  description: 'Intel VT-d in scalable mode: root/context/PASID tables, first-level (x86-64) and second-level paging, hardware nesting, PASID, PRI, ATS',
  create: (ctx: MachineContext) => new VtdDriver(ctx, unitConfig(ctx.options)),
  machineOptions: ['vtdAddressWidth', 'vtdFaultRecords'],
  faults: faultReasons().map(({ code, name, meaning }) => ({ code, name, explain: meaning })),
  hardware: vtdHardware,
  defaultMachine: {
    devices: [
      { name: 'dev0', rid: 0x08 },
      { name: 'dev1', rid: 0x10 },
    ],
  },
};

export function register(container?: DependencyContainer): void {
  registerVendor(intelVtd, container);
}

register();
