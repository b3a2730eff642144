import v8 from 'node:v8';
import vm from 'node:vm';
import { type DumpTable } from '@ioasid/core';
import { entryWriteBaseline, estimate, interleaved, interleavedRounds, nowNs, repeated } from './measure.js';
import { onceRow, ratioRow, unsupportedRow, valueRow, type BenchRow, type BenchSettings } from './rows.js';
import { bound, GiB, KiB4, machine, MiB2 } from './setup.js';
import { allocSpace } from './space.js';

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
