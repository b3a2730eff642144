import { container as rootContainer, type DependencyContainer } from './di.js';
import { fail, IoasidError } from './base/errors.js';
import { didYouMean } from './base/did-you-mean.js';
import { CORE_MACHINE_OPTIONS, type MachineOptions } from './base/machine-options.js';
import type { VendorRegistration } from './driver/driver.js';
import { findVendor, listVendors } from './driver/registry.js';
import { argObject, show, type Args } from './uapi/validate.js';

/**
 * Reading `createMachine`'s argument: a plain object naming a registered vendor, with only the
 * keys core reads and those the vendor's registration declares (`machineOptions`). A key nobody
 * declared is a typo or an option of another vendor: EINVAL naming it, with the closest name.
 */

/** EINVAL for `key` found in `where`, which takes only `known`. */
export function unknownOption(key: string, known: readonly string[], where: string, note = ''): never {
  const at = where === 'options' ? '' : ` in ${where}`;
  fail('EINVAL', `unknown option '${key}'${at}${didYouMean(key, known)}${note} (${where} takes ${known.join(', ')})`);
}

/** What the machine is built from: the vendor and its defaults under the caller's options. */
export interface ReadMachineOptions {
  reg: VendorRegistration;
  options: Args & { vendor: string };
}

export function readMachineOptions(value: unknown): ReadMachineOptions {
  const given = argObject(value, 'options');
  const from = given.container ?? rootContainer;
  if (typeof from !== 'object' || from === null || typeof (from as Partial<DependencyContainer>).resolveAll !== 'function') {
    fail('EINVAL', `options.container must be a DependencyContainer (got ${show(from)})`);
  }
  const vendor = given.vendor;
  if (typeof vendor !== 'string') fail('EINVAL', `options.vendor must name a registered vendor (got ${show(vendor)})`);
  const reg = vendorNamed(vendor, from as DependencyContainer);
  const known: readonly string[] = [...CORE_MACHINE_OPTIONS, ...(reg.machineOptions ?? [])];
  for (const key of Object.keys(given)) {
    if (known.includes(key)) continue;
    const owner = listVendors(from as DependencyContainer).find((r) => r.machineOptions?.includes(key));
    unknownOption(key, known, 'options', owner ? ` ('${key}' is an option of ${owner.vendor}, not ${reg.vendor})` : '');
  }
  // The vendor's default machine fills in what the caller left out (registration checked its keys).
  return { reg, options: { ...(reg.defaultMachine ?? {}), ...given, vendor: reg.vendor } };
}

/** findVendor, its refusal naming the argument it came from. */
function vendorNamed(vendor: string, from: DependencyContainer): VendorRegistration {
  try {
    return findVendor(vendor, from);
  } catch (e) {
    if (!(e instanceof IoasidError)) throw e;
    throw new IoasidError(e.errno, `options.vendor: ${e.message.slice(e.errno.length + 2)}`);
  }
}

/** A bigint option in [min, max] (named in the error), or `fallback` when absent. */
export function sizeOption(o: Args, key: keyof MachineOptions & string, fallback: bigint, check: (v: bigint) => boolean, rule: string): bigint {
  const v = o[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'bigint' || !check(v)) fail('EINVAL', `options.${key} must be ${rule} (got ${show(v)})`);
  return v;
}
