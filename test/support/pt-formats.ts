/**
 * Every page-table format the root suites run over (test/pgtable-formats.test.ts and the iterator
 * suite), collected from the test configurations each format module exports beside itself, as
 * generic_pt's kunit suite collects each fmt/*.h's `kunit_fmt_cfgs`: the example plugin's flat
 * format included. A new vendor adds its list here.
 */
import type { PtFormat } from '@ioasid/core';
import { vtdFormatTestConfigs } from '@ioasid/intel-vtd';
import { lpaeFormatTestConfigs } from '@ioasid/arm-smmuv3';
import { tceFormatTestConfigs } from '@ioasid/power-tce';
import { svFormatTestConfigs } from '@ioasid/riscv-iommu';
import { flatFormatTestConfigs } from '@ioasid-example/flat-iommu';

export const PT_FORMATS: [string, () => PtFormat][] = [...vtdFormatTestConfigs, ...lpaeFormatTestConfigs, ...tceFormatTestConfigs, ...svFormatTestConfigs, ...flatFormatTestConfigs].map(
  (c): [string, () => PtFormat] => [c.name, c.make],
);
