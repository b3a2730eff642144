/**
 * The vendor registration publishes every fault reason the unit can report (VendorRegistration.faults,
 * listed by `ioasid info --faults`): exactly the scalable-mode table of hw/fault-reasons.ts, each
 * with the one-line meaning its DmaFault records carry.
 */
import { describe, expect, it } from 'vitest';
import { findVendor } from '@ioasid/core';
import { faultMeaning, faultName, faultReasons, intelVtd } from '../src/index.js';

describe('fault catalogue (VendorRegistration.faults)', () => {
  it('equals the fault table: every code, its name and its meaning, lowest code first', () => {
    expect(intelVtd.faults).toEqual(faultReasons().map((r) => ({ code: r.code, name: r.name, explain: r.meaning })));
    expect(findVendor('intel-vtd').faults).toBe(intelVtd.faults);
  });

  it('each entry is what a fault record of that code says (name, explain)', () => {
    for (const f of intelVtd.faults!) {
      expect(faultName(f.code)).toBe(f.name);
      expect(faultMeaning(f.code)).toBe(f.explain);
    }
    expect(intelVtd.faults!.map((f) => f.code)).toContain(0x44);
  });
});
