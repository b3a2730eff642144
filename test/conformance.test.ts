/**
 * The conformance kit on the four built-in vendors, plus any other vendor their packages
 * register. Every built-in vendor exists: a package that does not load, or loads without
 * registering its vendor, fails the run (a broken build must never look like a smaller green run).
 */
import { describe, it } from 'vitest';
import { listVendors } from '@ioasid/core';
import { defineConformanceSuite } from '@ioasid/conformance';

const BUILT_IN = ['intel-vtd', 'arm-smmuv3', 'power-tce', 'riscv-iommu'] as const;

const loadError = new Map<string, unknown>();
await import('@ioasid/intel-vtd').catch((e: unknown) => loadError.set('intel-vtd', e));
await import('@ioasid/arm-smmuv3').catch((e: unknown) => loadError.set('arm-smmuv3', e));
await import('@ioasid/power-tce').catch((e: unknown) => loadError.set('power-tce', e));
await import('@ioasid/riscv-iommu').catch((e: unknown) => loadError.set('riscv-iommu', e));

const registered = listVendors().map((r) => r.vendor);

for (const vendor of BUILT_IN) {
  if (registered.includes(vendor)) {
    defineConformanceSuite({ vendor });
    continue;
  }
  const err = loadError.get(vendor);
  describe(`conformance: ${vendor}`, () => {
    it(`package @ioasid/${vendor} loads and registers '${vendor}'`, () => {
      throw err ?? new Error(`package @ioasid/${vendor} loaded but registered no vendor '${vendor}'`);
    });
  });
}

// Any other vendor the packages registered is held to the same kit.
for (const vendor of registered.filter((v) => !(BUILT_IN as readonly string[]).includes(v))) defineConformanceSuite({ vendor });
