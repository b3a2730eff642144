import type { PtFormat } from '@ioasid/core';
import { TceFormat } from './tce.js';

/**
 * The configurations of the TCE format the root engine suite (test/pgtable-formats.test.ts)
 * runs, kept beside the format as generic_pt keeps `kunit_fmt_cfgs` in each fmt/*.h.
 */
export const tceFormatTestConfigs: readonly { readonly name: string; readonly make: () => PtFormat }[] = [
  { name: 'TCE, 1 level of 2^19, 4K pages', make: () => new TceFormat({ pageShift: 12, levels: 1, levelBits: 19 }) },
  { name: 'TCE, 2 levels of 2^12, 64K pages', make: () => new TceFormat({ pageShift: 16, levels: 2, levelBits: 12 }) },
  { name: 'TCE, 3 levels of 2^9, 4K pages', make: () => new TceFormat({ pageShift: 12, levels: 3, levelBits: 9 }) },
  { name: 'TCE, 2 levels of 2^10, 2M pages', make: () => new TceFormat({ pageShift: 21, levels: 2, levelBits: 10 }) },
];
