import { allocScaling, collect, map4k, map4kCold, map64g, mapHuge, mapScaling, memoryPerGib, shadowUpdate, translate, translateNested, unsupportedRow, type BenchRow, type BenchSettings } from './cases.js';
import { dirtyHarvest } from './dirty.js';

export type { BenchRow, BenchSettings };

const SUITE: [string, (vendor: string, s: BenchSettings) => BenchRow[]][] = [
  ['map-4k / unmap-4k', map4k],
  ['map-4k-cold', map4kCold],
  ['map-64g-4k', map64g],
  ['map-huge', mapHuge],
  ['map-scaling', mapScaling],
  ['alloc-scaling', allocScaling],
  ['translate-hit / translate-walk / dma-api', translate],
  ['translate-nested', translateNested],
  ['shadow-update', shadowUpdate],
  ['memory-per-gib', memoryPerGib],
  ['dirty-harvest', dirtyHarvest],
];

/** Full runs: 9 timed rounds per row; --quick: 3 (the same estimator), and smaller sizes where a row's size is not its point. */
export function benchSettings(quick: boolean): BenchSettings {
  return quick
    ? { rounds: 3, mapPages: 262144, lookups: 8192, bigGiB: 8, harvestBytes: 256n << 20n, quick }
    : { rounds: 9, mapPages: 262144, lookups: 16384, bigGiB: 64, harvestBytes: 1n << 30n, quick };
}

/** Runs every benchmark on every vendor, calling `onStep` before each one. */
export function runBench(opts: {
  vendors: string[];
  quick: boolean;
  /** Only the benchmarks whose label contains one of these (all when absent). */
  only?: string[];
  onStep?: (label: string, done: number, total: number) => void;
}): BenchRow[] {
  const s = benchSettings(opts.quick);
  const rows: BenchRow[] = [];
  const suite = opts.only ? SUITE.filter(([label]) => opts.only!.some((o) => label.split(' / ').includes(o))) : SUITE;
  const total = opts.vendors.length * suite.length;
  let done = 0;
  for (const vendor of opts.vendors) {
    for (const [label, fn] of suite) {
      opts.onStep?.(`${vendor} ${label}`, done, total);
      try {
        rows.push(...fn(vendor, s));
      } catch (e) {
        rows.push({ ...unsupportedRow(vendor, label, '', ''), verdict: 'missed', ok: false, target: '', note: `error: ${(e as Error).message}` });
      }
      done++;
      // Each benchmark's machine (up to 64 GiB mapped) is garbage now: collect it before the next one
      // builds its own, so the process holds one at a time.
      collect();
    }
  }
  opts.onStep?.('done', total, total);
  return rows;
}

/** The benchmark names --only accepts. */
export const BENCH_NAMES: readonly string[] = SUITE.flatMap(([label]) => label.split(' / '));
