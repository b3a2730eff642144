import type { PtFormat } from '@ioasid/core';
import { svFormat } from './sv.js';

/**
 * The Sv formats the root engine suites (test/pgtable-formats.test.ts, test/pgtable-iter.test.ts)
 * run, kept beside them as generic_pt keeps `kunit_fmt_cfgs` in fmt/riscv.h.
 */
export const svFormatTestConfigs: readonly { readonly name: string; readonly make: () => PtFormat }[] = [
  { name: 'RISC-V Sv39 (first stage)', make: () => svFormat(39) },
  { name: 'RISC-V Sv48 (first stage)', make: () => svFormat(48) },
  { name: 'RISC-V Sv57 (first stage)', make: () => svFormat(57) },
  { name: 'RISC-V Sv39x4 (G-stage, 16 KiB root)', make: () => svFormat(39, true) },
  { name: 'RISC-V Sv48x4 (G-stage, 16 KiB root)', make: () => svFormat(48, true) },
  { name: 'RISC-V Sv57x4 (G-stage, 16 KiB root)', make: () => svFormat(57, true) },
  { name: 'RISC-V Sv48x4 (G-stage, dirty logging: leaves with D clear)', make: () => svFormat(48, true, true) },
];
