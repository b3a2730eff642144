import v8 from 'node:v8';
import vm from 'node:vm';
import { createMachine, isTraceRead, WalkTracer, type CacheRead, type DmaRequest, type DumpTable, type Machine, type TraceRead } from '@ioasid/core';
import { entryWriteBaseline, estimate, interleaved, interleavedRounds, nowNs, recordReads, repeated, replayReads, sink, verdictOf, type Estimate, type Verdict } from './measure.js';
import { recordCacheReads, replayCacheReads } from './cache-replay.js';
import { allocSpace } from './space.js';

export interface BenchRow {
  vendor: string;
  name: string;
  /** The subject's median (ns per op, bytes, ms …). */
  value: number;
  unit: string;
  /** The baseline's median, for a ratio row. */
  baseline: number | null;
  /** The median of the rounds' ratios (subject ÷ the baseline of the same round). */
  ratio: number | null;
  /** The figure the target bounds (the ratio, or the value of a value row) over the rounds: median, min and max. */
  median: number | null;
  min: number | null;
  max: number | null;
  /** Rounds the figure is the median of. */
  rounds: number;
  /** Of those, rounds run again because the machine disturbed the first run (its baseline strayed from the baseline's median). */
  replaced: number;
  /** met: the whole spread within the target; missed: all of it beyond; unstable: it crosses the target; report: no target. */
  verdict: Verdict;
  /** The target as printed ('≤ 10×', '≤ 1 ms', 'report'). */
  target: string;
  /** The same as numbers: the largest value allowed, and whether it bounds the ratio or the value itself. */
  targetMax: number | null;
  targetOf: 'ratio' | 'value' | null;
  /** Whether the target is met (null when the row only reports): verdict === 'met'. */
  ok: boolean | null;
  note?: string;
}

export interface BenchSettings {
  /** Timed rounds of every row (after warm-up): ≥ 7, or ≥ 3 with --quick. */
  rounds: number;
  /** Least time a ratio row spends in warm-up rounds (ms). */
  warmMs: number;
  /** Pages mapped by map-4k (1 GiB = 262144). */
  mapPages: number;
  lookups: number;
  /** GiB mapped by map-64g-4k (64; fewer with --quick). */
  bigGiB: number;
  /** Bytes of 4 KiB leaves a dirty harvest reads (1 GiB; less with --quick). */
  harvestBytes: bigint;
  quick: boolean;
}

const KiB4 = 4096n;
const MiB2 = 2n << 20n;
const GiB = 1n << 30n;

export function machine(vendor: string, guestMemory = MiB2, hostMemory = 128n << 30n): Machine {
  // Room for map-huge's 64 GiB of huge pages beside the kernel's tables.
  return createMachine({ vendor, devices: [{ name: 'dev0' }, { name: 'dev1' }], guestMemory, hostMemory });
}

export function bound(m: Machine) {
  const fd = m.openIoasidFd();
  const dev = m.device('dev0');
  dev.bindIoasidFd(fd, { label: 'bench' });
  return { fd, dev };
}

const ONCE = (x: number): Estimate => estimate([x]);

/** A row whose target bounds subject ÷ baseline; the figure is the median of the rounds' ratios. */
export function ratioRow(vendor: string, name: string, unit: string, r: { subject: Estimate; baseline: Estimate; ratio: Estimate; replaced?: number }, target: number | null, note?: string): BenchRow {
  const verdict = verdictOf(r.ratio, target);
  const replaced = r.replaced ?? 0;
  if (replaced > 0) note = `${note ?? ''}${note ? '; ' : ''}${replaced} of ${r.ratio.rounds} rounds run again (the machine disturbed their baseline)`;
  return {
    vendor,
    name,
    value: r.subject.median,
    unit,
    baseline: r.baseline.median,
    ratio: r.ratio.median,
    median: r.ratio.median,
    min: r.ratio.min,
    max: r.ratio.max,
    rounds: r.ratio.rounds,
    replaced,
    verdict,
    target: target === null ? 'report' : `≤ ${target}×`,
    targetMax: target,
    targetOf: target === null ? null : 'ratio',
    ok: target === null ? null : verdict === 'met',
    note,
  };
}

/** A row measured once (memory): subject ÷ baseline from one measurement. */
export function onceRow(vendor: string, name: string, unit: string, value: number, baseline: number, target: number | null, note?: string): BenchRow {
  return ratioRow(vendor, name, unit, { subject: ONCE(value), baseline: ONCE(baseline), ratio: ONCE(value / baseline) }, target, note);
}

/** A row whose target bounds the value itself (a time in ms). */
export function valueRow(vendor: string, name: string, unit: string, e: Estimate, target: number | null, note?: string): BenchRow {
  const verdict = verdictOf(e, target);
  return {
    vendor,
    name,
    value: e.median,
    unit,
    baseline: null,
    ratio: null,
    median: e.median,
    min: e.min,
    max: e.max,
    rounds: e.rounds,
    replaced: 0,
    verdict,
    target: target === null ? 'report' : `≤ ${target} ${unit}`,
    targetMax: target,
    targetOf: target === null ? null : 'value',
    ok: target === null ? null : verdict === 'met',
    note,
  };
}

/** A row that could not be measured on this vendor (no such feature): it reports why. */
export function unsupportedRow(vendor: string, name: string, unit: string, why: string): BenchRow {
  return { ...valueRow(vendor, name, unit, estimate([]), null, `unsupported: ${why}`), value: NaN, target: 'unsupported' };
}

/** map-4k and unmap-4k: MAP_DMA of pinned, scattered memory (4 KiB IOPTEs) and its UNMAP_DMA vs the entry-write limit. */
export function map4k(vendor: string, s: BenchSettings): BenchRow[] {
  const m = machine(vendor);
  const { fd, dev } = bound(m);
  const size = BigInt(s.mapPages) * KiB4;
  const space = allocSpace(fd, dev, size, KiB4);
  const va = m.vmm.mmap(size);
  // The first map pins and populates (map-4k-cold measures that); every round re-maps pinned memory.
  fd.mapDma({ ioasid: space.ioasid, iova: space.base, vaddr: va, size });
  fd.unmapDma({ ioasid: space.ioasid, iova: space.base, size });
  const map = (): number => {
    const t = nowNs();
    fd.mapDma({ ioasid: space.ioasid, iova: space.base, vaddr: va, size });
    return (nowNs() - t) / s.mapPages;
  };
  const unmap = (): number => {
    const t = nowNs();
    fd.unmapDma({ ioasid: space.ioasid, iova: space.base, size });
    return (nowNs() - t) / s.mapPages;
  };
  const r = interleavedRounds({ rounds: s.rounds, warmMs: s.warmMs, inner: 3 }, [map, unmap], entryWriteBaseline(s.mapPages));
  fd.close();
  return [
    ratioRow(vendor, 'map-4k', 'ns/page', { subject: r.subjects[0], baseline: r.baseline, ratio: r.ratios[0], replaced: r.replaced }, 8, `${s.mapPages} pages of pinned memory re-mapped`),
    ratioRow(vendor, 'unmap-4k', 'ns/page', { subject: r.subjects[1], baseline: r.baseline, ratio: r.ratios[1], replaced: r.replaced }, 8, `${s.mapPages} pages`),
  ];
}

/** map-4k-cold: the first MAP_DMA of freshly mmapped memory (pinning and frame population included) vs the entry-write limit. */
export function map4kCold(vendor: string, s: BenchSettings): BenchRow[] {
  const m = machine(vendor);
  const { fd, dev } = bound(m);
  const size = BigInt(s.mapPages) * KiB4;
  const space = allocSpace(fd, dev, size, KiB4);
  const cold = (): number => {
    const va = m.vmm.mmap(size);
    const t = nowNs();
    fd.mapDma({ ioasid: space.ioasid, iova: space.base, vaddr: va, size });
    const ns = (nowNs() - t) / s.mapPages;
    fd.unmapDma({ ioasid: space.ioasid, iova: space.base, size });
    m.vmm.munmap(va, size);
    return ns;
  };
  // The first ~15 cold maps of a process run 2–3× slower (code being compiled, the model's table
  // storage and the frame table's leaves new memory from the OS): more warm-up rounds than the others.
  const r = interleaved({ rounds: s.rounds, warmMs: s.warmMs, inner: 3, warm: 8 }, cold, entryWriteBaseline(s.mapPages));
  fd.close();
  return [ratioRow(vendor, 'map-4k-cold', 'ns/page', r, 20, `${s.mapPages} pages of fresh mmap: pin, populate, map`)];
}

/**
 * map-64g-4k: ns per page re-mapping 64 GiB of pinned memory at 4 KiB ÷ the same for 1 GiB (the
 * cost per page must not grow with the size); map-64g-4k-memory: what the first 64 GiB map adds
 * to the process (heap and array buffers; the VMM memory is populated before) per GiB ÷ the
 * hardware's own table bytes per GiB.
 */
export function map64g(vendor: string, s: BenchSettings): BenchRow[] {
  const m = machine(vendor);
  const { fd, dev } = bound(m);
  const big = BigInt(s.bigGiB) * GiB;
  const small = GiB;
  const dev1 = m.device('dev1');
  dev1.bindIoasidFd(fd, { label: 'bench1' });
  const vaBig = m.vmm.mmap(big);
  const vaSmall = m.vmm.mmap(small);
  const pagesBig = Number(big / KiB4);
  const pagesSmall = Number(small / KiB4);
  // The VMM's memory exists before the map (its frame table is the VMM's, not the map's).
  m.vmm.region(vaBig, big).touch(0, pagesBig);
  m.vmm.region(vaSmall, small).touch(0, pagesSmall);
  collect();
  const before = process.memoryUsage();
  const frames0 = m.hostMemory.kernelFramesInUse;
  let spBig, spSmall;
  try {
    // Inside the measurement: a POWER window's TCE table exists from ALLOC on.
    spBig = allocSpace(fd, dev, big, KiB4);
    fd.mapDma({ ioasid: spBig.ioasid, iova: spBig.base, vaddr: vaBig, size: big });
    spSmall = allocSpace(fd, dev1, small, KiB4);
  } catch (e) {
    fd.close();
    return [unsupportedRow(vendor, 'map-64g-4k', 'ns/page', `no ${s.bigGiB} GiB space of 4 KiB pages (${(e as Error).message})`)];
  }
  collect();
  const after = process.memoryUsage();
  const tableBytes = (m.hostMemory.kernelFramesInUse - frames0) * 4096;
  const used = after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers);
  fd.unmapDma({ ioasid: spBig.ioasid, iova: spBig.base, size: big });
  const once = (sp: { ioasid: number; base: bigint }, va: bigint, size: bigint, pages: number) => (): number => {
    const t = nowNs();
    fd.mapDma({ ioasid: sp.ioasid, iova: sp.base, vaddr: va, size });
    const ns = (nowNs() - t) / pages;
    fd.unmapDma({ ioasid: sp.ioasid, iova: sp.base, size });
    return ns;
  };
  const r = interleaved({ rounds: s.rounds, warmMs: s.warmMs, warm: 2, inner: 3 }, once(spBig, vaBig, big, pagesBig), once(spSmall, vaSmall, small, pagesSmall));
  fd.close();
  const sizeNote = s.bigGiB === 64 ? '64 GiB' : `${s.bigGiB} GiB (--quick; a full run maps 64 GiB)`;
  const gib = s.bigGiB;
  if (tableBytes === 0) {
    return [ratioRow(vendor, 'map-64g-4k', 'ns/page', r, 1.2, `${sizeNote} at 4 KiB ÷ 1 GiB at 4 KiB, pinned memory re-mapped`)];
  }
  return [
    ratioRow(vendor, 'map-64g-4k', 'ns/page', r, 1.2, `${sizeNote} at 4 KiB ÷ 1 GiB at 4 KiB, pinned memory re-mapped`),
    onceRow(vendor, 'map-64g-4k-memory', 'B/GiB', used / gib, tableBytes / gib, 1.25, `heap + array buffers the first map of ${sizeNote} adds ÷ its ${(tableBytes / 2 ** 20).toFixed(0)} MiB of tables`),
  ];
}

function countLeaves(t: DumpTable | null): number {
  if (!t) return 0;
  let n = 0;
  for (const e of t.entries) n += e.child ? countLeaves(e.child) : e.decoded.kind === 'leaf' ? 1 : 0;
  return n;
}

/** map-huge: 64 GiB of guest RAM backed by 1 GiB (and 2 MiB) huge pages in one MAP_DMA. */
export function mapHuge(vendor: string, s: BenchSettings): BenchRow[] {
  const rows: BenchRow[] = [];
  const size = 64n * GiB;
  for (const [huge, page] of [['1G', GiB], ['2M', MiB2]] as const) {
    const m = machine(vendor);
    const { fd, dev } = bound(m);
    const va = m.vmm.mmap(size, { hugePages: huge });
    let space;
    try {
      space = allocSpace(fd, dev, size, page);
    } catch (e) {
      rows.push(unsupportedRow(vendor, 'map-huge', 'ms', `${huge} pages: no 64 GiB space (${(e as Error).message})`));
      fd.close();
      continue;
    }
    const e = repeated({ rounds: s.rounds, inner: 3 }, () => {
      const t = nowNs();
      fd.mapDma({ ioasid: space.ioasid, iova: space.base, vaddr: va, size });
      const ms = (nowNs() - t) / 1e6;
      fd.unmapDma({ ioasid: space.ioasid, iova: space.base, size });
      return ms;
    });
    fd.mapDma({ ioasid: space.ioasid, iova: space.base, vaddr: va, size });
    const entries = countLeaves(fd.dumpPgtable(space.ioasid).root);
    rows.push(valueRow(vendor, 'map-huge', 'ms', e, huge === '1G' ? 1 : null, `${huge} pages, ${entries} entries written`));
    fd.close();
  }
  return rows;
}

/** map-scaling: mapping 64 MiB next to 1 GiB already mapped ÷ into an empty IOASID. */
export function mapScaling(vendor: string, s: BenchSettings): BenchRow[] {
  const m = machine(vendor);
  const { fd, dev } = bound(m);
  const small = 64n << 20n;
  const big = small * 16n;
  const full = allocSpace(fd, dev, 2n * big, KiB4);
  const dev1 = m.device('dev1');
  dev1.bindIoasidFd(fd, { label: 'bench1' });
  const empty = allocSpace(fd, dev1, small, KiB4);
  const vaBig = m.vmm.mmap(big);
  const vaSmall = m.vmm.mmap(small);
  fd.mapDma({ ioasid: full.ioasid, iova: full.base, vaddr: vaBig, size: big });
  const pages = Number(small / KiB4);
  const once = (sp: { ioasid: number; base: bigint }, iova: bigint) => () => {
    const t = nowNs();
    fd.mapDma({ ioasid: sp.ioasid, iova, vaddr: vaSmall, size: small });
    const ns = (nowNs() - t) / pages;
    fd.unmapDma({ ioasid: sp.ioasid, iova, size: small });
    return ns;
  };
  const r = interleaved({ rounds: s.rounds, warmMs: s.warmMs, inner: 3 }, once(full, full.base + big), once(empty, empty.base));
  fd.close();
  return [ratioRow(vendor, 'map-scaling', 'ns/page', r, 1.3, '64 MiB beside 1 GiB ÷ into an empty IOASID')];
}

/** alloc-scaling: ALLOC (and FREE, so the count holds) with 9,999 IOASIDs live ÷ with 9 live: the 10,000th ÷ the 10th. */
export function allocScaling(vendor: string, s: BenchSettings): BenchRow[] {
  const m = machine(vendor);
  const few = m.openIoasidFd();
  const many = m.openIoasidFd();
  for (let i = 0; i < 9; i++) few.alloc({ protocol: 'map' });
  for (let i = 0; i < 9999; i++) many.alloc({ protocol: 'map' });
  const reps = 200;
  const at = (fd: typeof few) => (): number => {
    const t = nowNs();
    for (let i = 0; i < reps; i++) fd.free(fd.alloc({ protocol: 'map' }));
    return (nowNs() - t) / reps;
  };
  const r = interleaved({ rounds: s.rounds, warmMs: s.warmMs, inner: 3 }, at(many), at(few));
  few.close();
  many.close();
  return [ratioRow(vendor, 'alloc-scaling', 'ns/op', r, 2, 'ALLOC+FREE of the 10,000th IOASID ÷ of the 10th')];
}

function shuffled(n: number, seed = 7): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  let x = seed;
  for (let i = n - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) >>> 0;
    const j = x % (i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** Every host-memory read of a trace in the order the hardware made them (a nested fetch's sub-walk first). */
function traceReads(events: readonly (TraceRead | { cache: string })[], out: { addr: number; words: number }[] = []): { addr: number; words: number }[] {
  for (const e of events) {
    if (!isTraceRead(e as TraceRead)) continue;
    const r = e as TraceRead;
    if (r.via) traceReads(r.via, out);
    if (r.addr !== undefined) out.push({ addr: Number(r.addr), words: 2 * r.raw.length });
  }
  return out;
}

/**
 * The reads each translation of `frames` makes, in the cache state the timed loop meets: each
 * one traced by the unit's own walk (probing the caches, changing nothing), then translated for
 * real so that the caches it fills are there for the next, as in the timed loop. `reads`: the
 * host memory each read; `cache`: what each one's cache probes read of the cache entries.
 */
function recordWalks(m: Machine, req: DmaRequest, frames: readonly number[]): { reads: { addr: number; words: number }[][]; cache: CacheRead[][] } {
  const unit = m.iommu;
  if (typeof unit.walk !== 'function') throw new Error('the hardware model does not trace walks');
  const reads: { addr: number; words: number }[][] = [];
  const cache: CacheRead[][] = [];
  for (const f of frames) {
    req.iovaFrame = f;
    const tracer = new WalkTracer();
    const r = unit.walk!(req, tracer, { caches: true });
    tracer.finish(r, 0);
    m.driver.translate(req);
    reads.push(traceReads(tracer.trace.events));
    cache.push(tracer.cacheReads);
  }
  return { reads, cache };
}

/**
 * Translates each of `frames` (the timed loop of the translate rows), a function of its own so
 * that it is optimised as the baselines' loops are; a fault is an error here.
 */
function translateFrames(driver: Machine['driver'], req: DmaRequest, frames: readonly number[]): number {
  let acc = 0;
  for (let i = 0; i < frames.length; i++) {
    req.iovaFrame = frames[i];
    const r = driver.translate(req);
    if (typeof r !== 'number') throw new Error(`translation of frame 0x${frames[i].toString(16)} faulted: ${r.name}`);
    acc ^= r;
  }
  return acc;
}

/** translate-hit, translate-walk, dma-api on a 64 MiB map. */
export function translate(vendor: string, s: BenchSettings): BenchRow[] {
  const m = machine(vendor);
  const { fd, dev } = bound(m);
  const size = 64n << 20n;
  const space = allocSpace(fd, dev, size, KiB4);
  const va = m.vmm.mmap(size);
  fd.mapDma({ ioasid: space.ioasid, iova: space.base, vaddr: va, size });
  const baseFrame = Number(space.base >> 12n);
  const order = shuffled(Number(size >> 12n)).slice(0, s.lookups);
  const frames = order.map((i) => baseFrame + i);
  const req: DmaRequest = { rid: dev.rid, pasid: -1, iovaFrame: 0, write: false, privileged: false };
  const translateAll = () => {
    const t = nowNs();
    const acc = translateFrames(m.driver, req, frames);
    const ns = (nowNs() - t) / frames.length;
    sink(acc);
    return ns;
  };
  translateAll(); // warm
  // Every look-up of the hit row hits: its traced walk reads no host memory, only cache entries.
  const hits = recordWalks(m, req, frames);
  const hostReads = hits.reads.reduce((a, t) => a + t.length, 0);
  if (hostReads !== 0) throw new Error(`a warm translation read host memory (${hostReads} reads over ${frames.length} look-ups): the IOTLB does not hold the 64 MiB map`);
  const cacheReads = hits.cache.reduce((a, t) => a + t.length, 0);
  const hit =
    cacheReads === 0 ? undefined : interleaved({ rounds: s.rounds, warmMs: s.warmMs, inner: 3 }, translateAll, replayCacheReads(recordCacheReads(hits.cache)));
  fd.invalidateCache({ ioasid: space.ioasid, all: true });
  const reads = recordWalks(m, req, frames).reads;
  const perWalk = reads.reduce((a, t) => a + t.length, 0) / reads.length;
  const walk = interleaved(
    { rounds: s.rounds, warmMs: s.warmMs, inner: 3 },
    () => {
      fd.invalidateCache({ ioasid: space.ioasid, all: true });
      return translateAll();
    },
    replayReads(m.hostMemory, recordReads(m.hostMemory, reads)),
  );
  translateAll();
  const iovas = frames.map((f) => BigInt(f) << 12n);
  const api = interleaved(
    { rounds: s.rounds, warmMs: s.warmMs, inner: 3 },
    () => {
      const t = nowNs();
      for (const iova of iovas) sink(dev.dmaRead(iova, 8)[0]);
      return (nowNs() - t) / iovas.length;
    },
    translateAll,
  );
  fd.close();
  return [
    hit === undefined
      ? unsupportedRow(vendor, 'translate-hit', 'ns/op', "the unit's cache probes report no reads (WalkTracer.cacheRead): nothing to replay")
      : ratioRow(vendor, 'translate-hit', 'ns/op', hit, 2.5, `${frames.length} random pages, warm IOTLB ÷ replaying the ${(cacheReads / frames.length).toFixed(1)} reads of IOTLB entries each hit made (the probe's own report)`),
    ratioRow(vendor, 'translate-walk', 'ns/op', walk, 3, `after invalidate-all ÷ replaying the same ${perWalk.toFixed(1)} reads per walk as dependent chains`),
    ratioRow(vendor, 'dma-api', 'ns/op', api, null, 'device.dmaRead(iova, 8) ÷ translate-hit'),
  ];
}

/**
 * translate-nested: full two-stage walks through a guest table (hardware nesting only), bound
 * with BIND_PGTABLE when GET_INFO lists 'user-pgtable', else through a guest PASID table
 * (BIND_PASID_TABLE, 'user-pasid-table') whose PASID 1 names it, the requests then tagged PASID 1.
 */
export function translateNested(vendor: string, s: BenchSettings): BenchRow[] {
  const m = machine(vendor, 256n << 20n);
  const { fd, dev } = bound(m);
  const caps = dev.getInfo();
  const helpers = m.driver.guest;
  const guestFormat = caps.formats[0];
  const viaPgtable = caps.protocols.includes('user-pgtable');
  const pasidTableFormat = caps.pasidTableFormats[0];
  const viaPasidTable = !viaPgtable && caps.protocols.includes('user-pasid-table') && pasidTableFormat !== undefined && helpers?.buildPasidTable !== undefined;
  if (caps.nesting !== 'hardware' || !guestFormat || !helpers || !(viaPgtable || viaPasidTable)) {
    fd.close();
    return [unsupportedRow(vendor, 'translate-nested', 'ns/op', 'no hardware nesting with a bindable page table or PASID table')];
  }
  const gpa = fd.alloc({ protocol: 'map' });
  dev.attachIoasid(gpa);
  // GPA = IOVA, around the holes between permitted ranges (the SMMU's MSI window).
  for (const r of fd.getInfo(gpa).permittedRanges) {
    const end = r.last + 1n < m.guest.size ? r.last + 1n : m.guest.size;
    if (r.start < end) fd.mapDma({ ioasid: gpa, iova: r.start, vaddr: m.guest.vaddr + r.start, size: end - r.start });
  }
  const child = fd.createNesting({ parent: gpa, protocol: viaPgtable ? 'user-pgtable' : 'user-pasid-table' });
  dev.attachIoasid(child);
  const table = m.guest.createPageTable(helpers.pageTableFormat(guestFormat));
  const pages = Math.min(s.lookups, 4096);
  const order = shuffled(pages);
  // gIOVA page i → GPA page order[i] in the first 64 MiB, scattered by the shuffle.
  for (let i = 0; i < pages; i++) table.map(BigInt(0x40000000 + i * 4096), BigInt(order[i]) * KiB4 + (16n << 20n), KiB4);
  if (viaPgtable) fd.bindPgtable({ ioasid: child, addr: table.root, format: guestFormat });
  else {
    const pasidTable = helpers.buildPasidTable!(m.guest, pasidTableFormat, [{ pasid: 1, root: table.root, pgtable: guestFormat }]);
    fd.bindPasidTable({ ioasid: child, addr: pasidTable, format: pasidTableFormat });
  }
  const bound_ = viaPgtable ? 'BIND_PGTABLE' : 'BIND_PASID_TABLE, PASID 1';
  const req: DmaRequest = { rid: dev.rid, pasid: viaPgtable ? -1 : 1, iovaFrame: 0, write: false, privileged: false };
  const frames = order.map((i) => 0x40000 + i);
  const invalidate = () => {
    fd.invalidateCache({ ioasid: child, all: true });
    fd.invalidateCache({ ioasid: gpa, all: true });
  };
  const walkAll = () => {
    invalidate();
    const t = nowNs();
    const acc = translateFrames(m.driver, req, frames);
    sink(acc);
    return (nowNs() - t) / frames.length;
  };
  walkAll();
  invalidate();
  const reads = recordWalks(m, req, frames).reads;
  const perWalk = reads.reduce((a, t) => a + t.length, 0) / reads.length;
  const r = interleaved({ rounds: s.rounds, warmMs: s.warmMs, inner: 3 }, walkAll, replayReads(m.hostMemory, recordReads(m.hostMemory, reads)));
  fd.close();
  return [ratioRow(vendor, 'translate-nested', 'ns/op', r, null, `${pages} two-stage walks (${bound_}) ÷ replaying their ${perWalk.toFixed(1)} reads per walk`)];
}

/** shadow-update: software nesting map+unmap of one child page over a 1 GiB parent ÷ map-4k of one page. */
export function shadowUpdate(vendor: string, s: BenchSettings): BenchRow[] {
  const m = machine(vendor, GiB);
  const { fd, dev } = bound(m);
  const parent = allocSpace(fd, dev, GiB, KiB4);
  fd.mapDma({ ioasid: parent.ioasid, iova: parent.base, vaddr: m.guest.vaddr, size: GiB });
  const child = fd.createNesting({ parent: parent.ioasid, protocol: 'map' });
  dev.attachIoasid(child);
  const childRange = fd.getInfo(child).permittedRanges[0];
  const plain = fd.alloc({ protocol: 'map' });
  const plainRange = fd.getInfo(plain).permittedRanges[0] ?? childRange;
  const va = m.vmm.mmap(KiB4);
  const reps = 2000;
  const r = interleaved(
    { rounds: s.rounds, warmMs: s.warmMs, inner: 3 },
    () => {
      const t = nowNs();
      for (let i = 0; i < reps; i++) {
        fd.mapDma({ ioasid: child, iova: childRange.start, vaddr: parent.base + BigInt(i % 256) * KiB4, size: KiB4 });
        fd.unmapDma({ ioasid: child, iova: childRange.start, size: KiB4 });
      }
      return (nowNs() - t) / reps;
    },
    () => {
      const t = nowNs();
      for (let i = 0; i < reps; i++) {
        fd.mapDma({ ioasid: plain, iova: plainRange.start, vaddr: va, size: KiB4 });
        fd.unmapDma({ ioasid: plain, iova: plainRange.start, size: KiB4 });
      }
      return (nowNs() - t) / reps;
    },
  );
  fd.close();
  return [ratioRow(vendor, 'shadow-update', 'ns/op', r, 2, 'child map+unmap of 4 KiB ÷ plain map+unmap of 4 KiB')];
}

let gc: (() => void) | undefined;
export function collect(): void {
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  gc();
  gc();
}

/** Fresh machines memory-per-gib measures on. */
const MEMORY_ROUNDS = 3;

/**
 * memory-per-gib: what ALLOC and the MAP_DMA of 1 GiB at 4 KiB add to the process (heap and array
 * buffers: the IOMMU's tables as the model stores them and the uAPI's bookkeeping) ÷ the tables'
 * own bytes (kernel frames × 4 KiB). The VMM's memory is resident before, as a VMM preallocates
 * guest RAM: its frame table is the VMM's (reported in the note), not the map's. The map path is
 * run beforehand on another machine, so compiling it is not counted either.
 */
export function memoryPerGib(vendor: string, s: BenchSettings): BenchRow[] {
  const size = BigInt(s.mapPages) * KiB4;
  {
    // The map path compiled on a machine of its own (code is per process; host memory is per machine).
    const w = machine(vendor);
    const { fd: wfd, dev: wdev } = bound(w);
    const wsp = allocSpace(wfd, wdev, size, KiB4);
    const wva = w.vmm.mmap(size / 4n);
    for (let i = 0; i < 3; i++) {
      wfd.mapDma({ ioasid: wsp.ioasid, iova: wsp.base, vaddr: wva, size: size / 4n });
      wfd.unmapDma({ ioasid: wsp.ioasid, iova: wsp.base, size: size / 4n });
    }
    wfd.close();
  }
  // Measured on MEMORY_ROUNDS fresh machines: a heap's size after a collection still moves by
  // some 100 KiB from one measurement to the next, so the row is their median and spread.
  const used: number[] = [];
  const tables: number[] = [];
  let frameTable = 0;
  for (let k = 0; k < MEMORY_ROUNDS; k++) {
    const m = machine(vendor);
    const { fd, dev } = bound(m);
    collect();
    const before0 = process.memoryUsage();
    const va = m.vmm.mmap(size);
    m.vmm.region(va, size).touch(0, s.mapPages);
    collect();
    const before = process.memoryUsage();
    frameTable = before.arrayBuffers - before0.arrayBuffers;
    const frames0 = m.hostMemory.kernelFramesInUse;
    // The space is allocated inside the measurement: a POWER window's TCE table exists from ALLOC on.
    const space = allocSpace(fd, dev, size, KiB4);
    fd.mapDma({ ioasid: space.ioasid, iova: space.base, vaddr: va, size });
    collect();
    const after = process.memoryUsage();
    tables.push((m.hostMemory.kernelFramesInUse - frames0) * 4096);
    used.push(after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers));
    fd.close();
  }
  const gib = Number(size) / 2 ** 30;
  const tableBytes = tables[0];
  const r = { subject: estimate(used.map((u) => u / gib)), baseline: estimate(tables.map((t) => t / gib)), ratio: estimate(used.map((u, k) => u / tables[k])) };
  return [
    ratioRow(
      vendor,
      'memory-per-gib',
      'B/GiB',
      r,
      1.25,
      `what ALLOC + MAP_DMA of ${gib} GiB add ÷ their ${(tableBytes / 1024).toFixed(0)} KiB of kernel tables; the VMM's memory was resident before (its frame table, ${(frameTable / 1024 / gib).toFixed(0)} KiB of array buffers per GiB, not counted)`,
    ),
  ];
}
