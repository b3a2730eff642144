import type { PtFormat } from '@ioasid/core';
import { S2_INPUT_BITS, flatFormat } from './format.js';

/**
 * The configurations of the flat format the root engine suite (test/pgtable-formats.test.ts)
 * runs, kept beside the format as generic_pt keeps `kunit_fmt_cfgs` in each fmt/*.h. A new
 * vendor exports its own list the same way and adds it to that suite.
 *
 * The suite maps and probes a few thousand pages, so only the kernel's 32-bit table is listed: a
 * guest table of at most 22 bits spans 1024 pages.
 */
export const flatFormatTestConfigs: readonly { readonly name: string; readonly make: () => PtFormat }[] = [
  { name: 'flat, 1 level of 2^20, 4K pages (32-bit stage 2)', make: () => flatFormat(S2_INPUT_BITS) },
];
