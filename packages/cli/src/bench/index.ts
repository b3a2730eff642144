import { allocScaling, collect, map4k, map4kCold, map64g, mapHuge, mapScaling, memoryPerGib, shadowUpdate } from './cases.js';
import { unsupportedRow, type BenchRow, type BenchSettings } from './rows.js';
import { translate, translateNested } from './translate.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
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
    ? { rounds: 3, warmMs: 100, mapPages: 262144, lookups: 8192, bigGiB: 8, harvestBytes: 256n << 20n, quick }
    : { rounds: 9, warmMs: 300, mapPages: 262144, lookups: 16384, bigGiB: 64, harvestBytes: 1n << 30n, quick };
}

/** One benchmark of one vendor in this process (what a worker runs). */
export function runOne(vendor: string, label: string, quick: boolean): BenchRow[] {
  const entry = SUITE.find(([l]) => l === label);
  if (!entry) throw new Error(`no benchmark '${label}'`);
  return entry[1](vendor, benchSettings(quick));
}

/** The worker script beside this module, when running compiled (not from TypeScript sources under a test runner). */
function workerScript(): string | undefined {
  const url = new URL('./worker.js', import.meta.url);
  return import.meta.url.endsWith('.js') ? fileURLToPath(url) : undefined;
}

/** A figure that could not be measured travels through JSON as null: back to NaN. */
function revive(r: BenchRow): BenchRow {
  const n = (x: number | null) => (x === null ? NaN : x);
  return { ...r, value: n(r.value), median: r.median, min: r.min, max: r.max };
}

/**
 * V8 flags of a benchmark's process: code is optimised on the main thread when it turns hot, not
 * on a compiler thread. On a shared machine a background compile waits for a core, and the code
 * measured then switched from unoptimised to optimised somewhere in the timed rounds (a harvest
 * ran 4.2 ns per page for six rounds and 1.7 for the rest); on the main thread it is in place
 * after the warm-up in every run.
 */
const WORKER_FLAGS = ['--no-concurrent-recompilation', '--no-concurrent-osr'];

/**
 * Runs one benchmark in a process of its own: every row starts from a fresh heap, fresh compiled
 * code and a fresh allocator, so what ran before (another vendor's 64 GiB, a GC debt, call sites
 * made polymorphic) cannot move its figures, and its memory is the OS's again when it ends.
 */
function runIsolated(script: string, vendor: string, label: string, quick: boolean, plugins: string[]): BenchRow[] {
  const r = spawnSync(process.execPath, [...WORKER_FLAGS, script, JSON.stringify({ vendor, label, quick, plugins })], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (process.env.IOASID_BENCH_DEBUG && r.stderr) process.stderr.write(r.stderr);
  if (r.status !== 0) {
    // The error's own line (Node ends an uncaught error's report with its version line).
    const lines = (r.stderr ?? '').split('\n').map((l) => l.trim());
    const said = lines.find((l) => /^\w*(Error|Fault|Failure): /.test(l)) ?? lines.filter((l) => l !== '' && !l.startsWith('Node.js v')).at(-1);
    throw new Error(said ?? `worker exited with ${r.status ?? r.signal}`);
  }
  return (JSON.parse(r.stdout) as BenchRow[]).map(revive);
}

/** Runs every benchmark on every vendor, calling `onStep` before each one. */
export function runBench(opts: {
  vendors: string[];
  quick: boolean;
  /** Only the benchmarks whose label contains one of these (all when absent). */
  only?: string[];
  /** Each benchmark in a process of its own (loading these plugin modules), when running compiled; else in this one. */
  isolate?: { plugins: string[] };
  onStep?: (label: string, done: number, total: number) => void;
}): BenchRow[] {
  const s = benchSettings(opts.quick);
  const rows: BenchRow[] = [];
  const suite = opts.only ? SUITE.filter(([label]) => opts.only!.some((o) => label.split(' / ').includes(o))) : SUITE;
  const total = opts.vendors.length * suite.length;
  const script = opts.isolate ? workerScript() : undefined;
  let done = 0;
  for (const vendor of opts.vendors) {
    for (const [label, fn] of suite) {
      opts.onStep?.(`${vendor} ${label}`, done, total);
      try {
        rows.push(...(script ? runIsolated(script, vendor, label, opts.quick, opts.isolate!.plugins) : fn(vendor, s)));
      } catch (e) {
        rows.push({ ...unsupportedRow(vendor, label, '', ''), verdict: 'missed', ok: false, target: '', note: `error: ${(e as Error).message}` });
      }
      done++;
      // In this process, each benchmark's machine (up to 64 GiB mapped) is garbage now: collect
      // it before the next one builds its own.
      if (!script) collect();
    }
  }
  opts.onStep?.('done', total, total);
  return rows;
}

/** The benchmark names --only accepts. */
export const BENCH_NAMES: readonly string[] = SUITE.flatMap(([label]) => label.split(' / '));
