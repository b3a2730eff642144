import { listVendors, otherCoreCopies, type VendorRegistration } from '@ioasid/core';
import { didYouMean } from './suggest.js';
import { UsageError } from './errors.js';

/** The built-in vendor plugins; importing one registers it with core. */
export const BUILTIN_VENDOR_PACKAGES = ['@ioasid/intel-vtd', '@ioasid/arm-smmuv3', '@ioasid/power-tce', '@ioasid/riscv-iommu'] as const;

export interface VendorLoad {
  vendors: VendorRegistration[];
  /** Packages that could not be imported, with the reason (shown as a warning). */
  failed: { module: string; reason: string }[];
}

/**
 * Imports the built-in vendors and the plugin modules the user names (`--plugin`), so that they
 * register. A built-in package that does not load is reported (the others still run); a plugin
 * the user named that does not load, or registers no vendor, is a usage error: a run that
 * silently tested only the built-ins would look like a pass.
 */
export async function loadVendors(plugins: string[] = []): Promise<VendorLoad> {
  const failed: VendorLoad['failed'] = [];
  for (const module of BUILTIN_VENDOR_PACKAGES) {
    try {
      await import(module);
    } catch (e) {
      failed.push({ module, reason: e instanceof Error ? e.message.split('\n')[0] : String(e) });
    }
  }
  const twice = plugins.find((m, i) => plugins.indexOf(m) !== i);
  if (twice !== undefined) throw new UsageError(`--plugin ${twice} is named twice`);
  for (const module of plugins) {
    const before = new Set(listVendors().map((r) => r.vendor));
    try {
      await import(resolvePlugin(module));
    } catch (e) {
      throw new UsageError(`--plugin ${module}: cannot load it: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
    }
    const added = listVendors().filter((r) => !before.has(r.vendor));
    if (added.length === 0) {
      const other = otherCoreCopies().filter((c) => c.vendors.length > 0);
      const hint = other.length
        ? ` It registered ${other.flatMap((c) => c.vendors).join(', ')} with another copy of @ioasid/core (${other[0].url}): the plugin must take @ioasid/core as a peerDependency so that one copy is installed (remove its own node_modules/@ioasid/core, or run npm dedupe).`
        : (BUILTIN_VENDOR_PACKAGES as readonly string[]).includes(module)
          ? ' It is built in: leave out --plugin.'
          : ' A plugin module registers its vendor when imported (registerVendor from @ioasid/core).';
      throw new UsageError(`--plugin ${module}: loaded, but it registered no new vendor.${hint}`);
    }
  }
  return { vendors: listVendors(), failed };
}

/** A path (./x.js, /abs/x.js) is imported as a file URL; anything else as a package name. */
function resolvePlugin(module: string): string {
  if (module.startsWith('.') || module.startsWith('/')) {
    return new URL(module, `file://${process.cwd()}/`).href;
  }
  return module;
}

/** Vendor names a user wrote (a --vendor list, a scenario's vendors:): every one known, none twice. */
export function checkVendorNames(names: readonly string[], registered: readonly VendorRegistration[], what: string): void {
  const known = registered.map((r) => r.vendor);
  const seen = new Set<string>();
  for (const n of names) {
    if (n === '') throw new UsageError(`${what}: an empty vendor name (registered: ${known.join(', ') || 'none'})`);
    if (seen.has(n)) throw new UsageError(`${what}: vendor '${n}' is named twice`);
    seen.add(n);
    if (!known.includes(n)) throw new UsageError(`${what}: unknown vendor '${n}' (registered: ${known.join(', ') || 'none'}, or 'all')${didYouMean(n, known)}`);
  }
}

/** Vendor names chosen by --vendor: one name, a comma-separated list, or 'all' (every registered vendor). */
export function selectVendors(choice: string | undefined, registered: VendorRegistration[]): VendorRegistration[] {
  if (choice === undefined || choice === 'all') {
    if (registered.length === 0) throw new Error('no vendor is registered (the vendor packages did not load)');
    return registered;
  }
  const names = choice.split(',').map((s) => s.trim());
  checkVendorNames(names, registered, '--vendor');
  return names.map((n) => registered.find((r) => r.vendor === n)!);
}

/** Machine options of a vendor's default machine (VendorRegistration.defaultMachine). */
export function defaultMachineOptions(reg: VendorRegistration): Record<string, unknown> {
  return { devices: [{ name: 'dev0' }, { name: 'dev1' }], ...(reg.defaultMachine ?? {}), vendor: reg.vendor };
}

/** The vendor names a scenario file writes (its `vendors:` and each step's), checked against the registered ones. */
export function checkScenarioVendors(spec: { vendors?: string[]; steps: { vendors?: string[] }[] }, file: string, registered: readonly VendorRegistration[]): void {
  if (spec.vendors) checkVendorNames(spec.vendors, registered, `${file}: vendors`);
  spec.steps.forEach((s, i) => {
    if (s.vendors) checkVendorNames(s.vendors, registered, `${file}: step ${i + 1}: vendors`);
  });
}
