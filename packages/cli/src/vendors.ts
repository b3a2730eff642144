import { listVendors, type VendorRegistration } from '@ioasid/core';
import { UsageError } from './errors.js';

/** The built-in vendor plugins; importing one registers it with core. */
export const BUILTIN_VENDOR_PACKAGES = ['@ioasid/intel-vtd', '@ioasid/arm-smmuv3', '@ioasid/power-tce'] as const;

export interface VendorLoad {
  vendors: VendorRegistration[];
  /** Packages that could not be imported, with the reason (shown as a warning). */
  failed: { module: string; reason: string }[];
}

/**
 * Imports the built-in vendors and any plugin modules the user names (`--plugin`), so that they
 * register. One broken package does not take the others down: it is reported and skipped.
 */
export async function loadVendors(plugins: string[] = []): Promise<VendorLoad> {
  const failed: VendorLoad['failed'] = [];
  for (const module of [...BUILTIN_VENDOR_PACKAGES, ...plugins]) {
    try {
      await import(resolvePlugin(module));
    } catch (e) {
      failed.push({ module, reason: e instanceof Error ? e.message.split('\n')[0] : String(e) });
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

/** Vendor names chosen by --vendor: one name, or 'all' (every registered vendor). */
export function selectVendors(choice: string | undefined, registered: VendorRegistration[]): VendorRegistration[] {
  if (choice === undefined || choice === 'all') {
    if (registered.length === 0) throw new Error('no vendor is registered (the vendor packages did not load)');
    return registered;
  }
  const names = choice.split(',').map((s) => s.trim()).filter(Boolean);
  return names.map((n) => {
    const reg = registered.find((r) => r.vendor === n);
    if (!reg) {
      const known = registered.map((r) => r.vendor).join(', ') || 'none';
      throw new UsageError(`unknown vendor '${n}' (registered: ${known}, or 'all')`);
    }
    return reg;
  });
}

/** Machine options of a vendor's default machine (DESIGN: VendorRegistration.defaultMachine). */
export function defaultMachineOptions(reg: VendorRegistration): Record<string, unknown> {
  return { devices: [{ name: 'dev0' }, { name: 'dev1' }], ...(reg.defaultMachine ?? {}), vendor: reg.vendor };
}
