import type { PtFormat } from '@ioasid/core';
import { lpaeStage1Format, lpaeStage2Format } from './lpae.js';

/**
 * The configurations of the LPAE formats the root engine suite (test/pgtable-formats.test.ts)
 * runs, kept beside the formats as generic_pt keeps `kunit_fmt_cfgs` in each fmt/*.h.
 */
export const lpaeFormatTestConfigs: readonly { readonly name: string; readonly make: () => PtFormat }[] = [
  { name: 'LPAE stage 1, 4K granule', make: () => lpaeStage1Format(4096, 48) },
  { name: 'LPAE stage 1, 16K granule', make: () => lpaeStage1Format(16384, 48) },
  { name: 'LPAE stage 1, 64K granule', make: () => lpaeStage1Format(65536, 48) },
  { name: 'LPAE stage 2, 4K granule, 40-bit IPA (concatenated start level)', make: () => lpaeStage2Format(4096, 40) },
  { name: 'LPAE stage 2, 16K granule', make: () => lpaeStage2Format(16384, 48) },
  { name: 'LPAE stage 2, 64K granule', make: () => lpaeStage2Format(65536, 48) },
];
