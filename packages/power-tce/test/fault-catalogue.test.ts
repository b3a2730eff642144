/** The vendor's fault catalogue (VendorRegistration.faults, `ioasid info --faults`) is the PHB's error table. */
import { describe, expect, it } from 'vitest';
import { findVendor } from '@ioasid/core';
import { PHB_DMA_ERROR, PHB_DMA_ERROR_EXPLAIN, PHB_DMA_FAULTS, powerTceVendor } from '../src/index.js';

describe('fault catalogue', () => {
  it('lists every PHB DMA error with the code its records carry and its explanation, in code order', () => {
    const table = Object.entries(PHB_DMA_ERROR).map(([name, code]) => ({ code, name, explain: PHB_DMA_ERROR_EXPLAIN[name as keyof typeof PHB_DMA_ERROR] }));
    expect(PHB_DMA_FAULTS).toEqual(table);
    expect(powerTceVendor.faults).toBe(PHB_DMA_FAULTS);
    expect(findVendor('power-tce').faults).toEqual(table);
    expect(PHB_DMA_FAULTS.map((f) => f.code)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(new Set(PHB_DMA_FAULTS.map((f) => f.name)).size).toBe(PHB_DMA_FAULTS.length);
  });
});
