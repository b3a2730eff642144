import type { PtFormat } from '@ioasid/core';
import { FirstLevelFormat } from './first-level.js';
import { SecondLevelFormat } from './second-level.js';

/**
 * The configurations of the VT-d formats the root engine suite (test/pgtable-formats.test.ts)
 * runs, kept beside the formats as generic_pt keeps `kunit_fmt_cfgs` in each fmt/*.h.
 */
export const vtdFormatTestConfigs: readonly { readonly name: string; readonly make: () => PtFormat }[] = [
  { name: 'VT-d second level, 3 levels', make: () => new SecondLevelFormat({ levels: 3, sllps: 3 }) },
  { name: 'VT-d second level, 4 levels', make: () => new SecondLevelFormat({ levels: 4, sllps: 3 }) },
  { name: 'VT-d second level, 5 levels', make: () => new SecondLevelFormat({ levels: 5, sllps: 3 }) },
  { name: 'VT-d first level, 4 levels', make: () => new FirstLevelFormat({ levels: 4, fl1gp: true }) },
  { name: 'VT-d first level, 5 levels', make: () => new FirstLevelFormat({ levels: 5, fl1gp: true }) },
];
