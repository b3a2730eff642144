/**
 * The conformance kit on the three built-in vendors (issue 6), plus any other vendor their
 * packages register. A package that is not there yet (nothing to import, or no registration) is
 * a skipped suite whose title says why; a package that throws while loading is a failure. Never
 * a pass without the kit having run.
 */
import { describe, it } from 'vitest';
import { listVendors } from '@ioasid/core';
import { defineConformanceSuite } from '@ioasid/conformance';

const BUILT_IN = ['intel-vtd', 'arm-smmuv3', 'power-tce'] as const;

const loadError = new Map<string, unknown>();
await import('@ioasid/intel-vtd').catch((e: unknown) => loadError.set('intel-vtd', e));
await import('@ioasid/arm-smmuv3').catch((e: unknown) => loadError.set('arm-smmuv3', e));
await import('@ioasid/power-tce').catch((e: unknown) => loadError.set('power-tce', e));

const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0];
/** The package has no entry point yet (as opposed to one that breaks while loading). */
const notThereYet = (e: unknown) => /cannot find|failed to (load|resolve)|does not exist|not found/i.test(firstLine(e));

const registered = listVendors().map((r) => r.vendor);

for (const vendor of BUILT_IN) {
  if (registered.includes(vendor)) {
    defineConformanceSuite({ vendor });
    continue;
  }
  const err = loadError.get(vendor);
  if (err !== undefined && !notThereYet(err)) {
    describe(`conformance: ${vendor}`, () => {
      it(`package @ioasid/${vendor} loads`, () => {
        throw err;
      });
    });
    continue;
  }
  const why = err !== undefined ? `package @ioasid/${vendor} has no entry point yet: ${firstLine(err)}` : `package @ioasid/${vendor} registers no vendor '${vendor}' yet`;
  describe.skip(`conformance: ${vendor} (skipped: ${why})`, () => {
    it('not run', () => {});
  });
}

// Any other vendor the packages registered is held to the same kit.
for (const vendor of registered.filter((v) => !(BUILT_IN as readonly string[]).includes(v))) defineConformanceSuite({ vendor });
