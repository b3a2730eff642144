import { map4k, mapHuge, mapScaling, memoryPerGib, shadowUpdate, translate, translateNested, type BenchRow, type BenchSettings } from './cases.js';

export type { BenchRow, BenchSettings };

const SUITE: [string, (vendor: string, s: BenchSettings) => BenchRow[]][] = [
  ['map-4k / unmap-4k', map4k],
  ['map-huge', mapHuge],
  ['map-scaling', mapScaling],
  ['translate-hit / translate-walk / dma-api', translate],
  ['translate-nested', translateNested],
  ['shadow-update', shadowUpdate],
  ['memory-per-gib', memoryPerGib],
];

export function benchSettings(quick: boolean): BenchSettings {
  return quick ? { runs: 5, mapPages: 262144, lookups: 8192 } : { runs: 11, mapPages: 262144, lookups: 16384 };
}

/** Runs every benchmark on every vendor, calling `onStep` before each one. */
export function runBench(opts: {
  vendors: string[];
  quick: boolean;
  onStep?: (label: string, done: number, total: number) => void;
}): BenchRow[] {
  const s = benchSettings(opts.quick);
  const rows: BenchRow[] = [];
  const total = opts.vendors.length * SUITE.length;
  let done = 0;
  for (const vendor of opts.vendors) {
    for (const [label, fn] of SUITE) {
      opts.onStep?.(`${vendor} ${label}`, done, total);
      try {
        rows.push(...fn(vendor, s));
      } catch (e) {
        rows.push({ vendor, name: label, value: NaN, unit: '', baseline: null, ratio: null, target: '', targetMax: null, targetOf: null, ok: false, note: `error: ${(e as Error).message}` });
      }
      done++;
    }
  }
  opts.onStep?.('done', total, total);
  return rows;
}
