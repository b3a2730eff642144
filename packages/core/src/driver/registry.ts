import { container, type DependencyContainer } from '../di.js';
import { fail } from '../base/errors.js';
import { didYouMean } from '../base/did-you-mean.js';
import { CORE_MACHINE_OPTIONS } from '../base/machine-options.js';
import type { VendorRegistration } from './driver.js';
import { IOMMU_DRIVER } from './tokens.js';

/**
 * What every copy of @ioasid/core loaded in this process has registered, shared through a global
 * symbol: a plugin that bundles its own copy of core registers into that copy, and the program's
 * copy can then say so instead of "unknown vendor".
 */
interface CoreCopy {
  /** Where this copy of core was loaded from. */
  url: string;
  vendors: string[];
}

const COPIES = Symbol.for('@ioasid/core:copies');
const THIS_COPY: CoreCopy = { url: new URL('../', import.meta.url).href, vendors: [] };
const copies: CoreCopy[] = ((globalThis as Record<symbol, unknown>)[COPIES] as CoreCopy[] | undefined) ?? [];
(globalThis as Record<symbol, unknown>)[COPIES] = copies;
copies.push(THIS_COPY);

/** The other copies of @ioasid/core in this process (empty when the install is sound). */
export function otherCoreCopies(): readonly { url: string; vendors: readonly string[] }[] {
  return copies.filter((c) => c !== THIS_COPY);
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const OPTION_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/** Checks a registration's shape before anything is stored (a mistake surfaces at import, not at first use). */
function checkRegistration(reg: VendorRegistration): void {
  if (!reg || typeof reg !== 'object') fail('EINVAL', 'registerVendor: expected a registration object { vendor, description, create | driver }');
  const who = typeof reg.vendor === 'string' ? `registerVendor('${reg.vendor}')` : 'registerVendor';
  if (typeof reg.vendor !== 'string' || !NAME.test(reg.vendor)) fail('EINVAL', `${who}: vendor must be a lower-case name like 'my-iommu' (letters, digits, '.', '_', '-'; got ${JSON.stringify(reg.vendor)})`);
  if (typeof reg.description !== 'string' || reg.description.trim() === '') fail('EINVAL', `${who}: description must be a non-empty string`);
  const hasCreate = reg.create !== undefined;
  const hasDriver = reg.driver !== undefined;
  if (hasCreate === hasDriver) fail('EINVAL', `${who}: give exactly one of create (a factory) and driver (an @injectable class); got ${hasCreate ? 'both' : 'neither'}`);
  if (hasCreate && typeof reg.create !== 'function') fail('EINVAL', `${who}: create must be a function (ctx) => IommuDriver`);
  if (hasDriver && typeof reg.driver !== 'function') fail('EINVAL', `${who}: driver must be a class`);
  checkMachineOptionKeys(reg, who);
  if (reg.hardware !== undefined && typeof reg.hardware !== 'function') fail('EINVAL', `${who}: hardware must be a function (memory, registers) => IommuUnit`);
  if (reg.faults !== undefined) {
    if (!Array.isArray(reg.faults)) fail('EINVAL', `${who}: faults must be an array of { code, name, explain }`);
    const names = new Set<string>();
    reg.faults.forEach((f, i) => {
      if (!f || !Number.isInteger(f.code) || typeof f.name !== 'string' || f.name === '' || typeof f.explain !== 'string' || f.explain === '') {
        fail('EINVAL', `${who}: faults[${i}] must be { code: integer, name: non-empty string, explain: non-empty string }`);
      }
      if (names.has(f.name)) fail('EINVAL', `${who}: faults[${i}]: the name ${f.name} is listed twice`);
      names.add(f.name);
    });
  }
}

/** The vendor's declared machine options, and its default machine using only known keys. */
function checkMachineOptionKeys(reg: VendorRegistration, who: string): void {
  const declared: unknown = reg.machineOptions;
  if (declared !== undefined) {
    if (!Array.isArray(declared)) fail('EINVAL', `${who}: machineOptions must be an array of option names`);
    declared.forEach((key: unknown, i) => {
      if (typeof key !== 'string' || !OPTION_NAME.test(key)) fail('EINVAL', `${who}: machineOptions[${i}] must be an option name (letters, digits, '_', '-'; got ${JSON.stringify(key)})`);
      if ((CORE_MACHINE_OPTIONS as readonly string[]).includes(key)) fail('EINVAL', `${who}: machineOptions[${i}]: '${key}' is one of core's own machine options`);
      if (declared.indexOf(key) !== i) fail('EINVAL', `${who}: machineOptions[${i}]: '${key}' is listed twice`);
    });
  }
  const dm: unknown = reg.defaultMachine;
  if (dm === undefined) return;
  if (typeof dm !== 'object' || dm === null || Array.isArray(dm)) fail('EINVAL', `${who}: defaultMachine must be a machine-options object`);
  const known = [...CORE_MACHINE_OPTIONS.filter((k) => k !== 'vendor' && k !== 'container'), ...((declared as string[] | undefined) ?? [])];
  for (const key of Object.keys(dm)) {
    if (!known.includes(key)) fail('EINVAL', `${who}: defaultMachine.${key} is not a machine option of core or of this vendor${didYouMean(key, known)} (declare vendor keys in machineOptions)`);
  }
}

/**
 * Registers a vendor in `target` (the root container by default). Registering the same object
 * again is a no-op (a module imported twice); another registration under a taken name is EEXIST.
 */
export function registerVendor(reg: VendorRegistration, target: DependencyContainer = container): void {
  checkRegistration(reg);
  const taken = listVendors(target).find((r) => r.vendor === reg.vendor);
  if (taken === reg) return;
  if (taken) fail('EEXIST', `registerVendor('${reg.vendor}'): a different registration already uses that name (${JSON.stringify(taken.description)}); choose another name`);
  target.register(IOMMU_DRIVER, { useValue: reg });
  if (target === container) THIS_COPY.vendors.push(reg.vendor);
}

export function listVendors(from: DependencyContainer = container): VendorRegistration[] {
  return from.isRegistered(IOMMU_DRIVER, true) ? from.resolveAll(IOMMU_DRIVER) : [];
}

export function findVendor(vendor: string, from: DependencyContainer = container): VendorRegistration {
  const all = listVendors(from);
  const reg = all.find((r) => r.vendor === vendor);
  if (!reg) {
    const elsewhere = otherCoreCopies().find((c) => c.vendors.includes(vendor));
    if (elsewhere) {
      fail(
        'ENODEV',
        `vendor '${vendor}' registered with another copy of @ioasid/core (${elsewhere.url}), not the one this program uses (${THIS_COPY.url}): ` +
          `the plugin must take @ioasid/core as a peerDependency, so that one copy is installed (remove the plugin's own node_modules/@ioasid/core, or run npm dedupe)`,
      );
    }
    fail('ENODEV', `vendor '${vendor}' is not registered (registered: ${all.map((r) => r.vendor).join(', ') || 'none'}; import its package first)`);
  }
  return reg;
}
