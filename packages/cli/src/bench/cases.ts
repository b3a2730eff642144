import v8 from 'node:v8';
import vm from 'node:vm';
import { createMachine, type DmaRequest, type DumpTable, type Machine } from '@ioasid/core';
import { chainBaseline, entryWriteBaseline, interleaved, mapGetBaseline, nowNs, sink } from './measure.js';
import { allocSpace } from './space.js';

export interface BenchRow {
  vendor: string;
  name: string;
  value: number;
  unit: string;
  baseline: number | null;
  ratio: number | null;
  /** The target as printed ('≤ 10×', '≤ 1 ms', 'report'). */
  target: string;
  /** The same as numbers: the largest value allowed, and whether it bounds the ratio or the value itself. */
  targetMax: number | null;
  targetOf: 'ratio' | 'value' | null;
  /** Whether the target is met (null when the row only reports). */
  ok: boolean | null;
  note?: string;
}

export interface BenchSettings {
  runs: number;
  /** Pages mapped by map-4k (1 GiB = 262144). */
  mapPages: number;
  lookups: number;
}

const KiB4 = 4096n;
const MiB2 = 2n << 20n;
const GiB = 1n << 30n;

function machine(vendor: string, guestMemory = MiB2): Machine {
  // Room for map-huge's 64 GiB of huge pages beside the kernel's tables.
  return createMachine({ vendor, devices: [{ name: 'dev0' }, { name: 'dev1' }], guestMemory, hostMemory: 128n << 30n });
}

function bound(m: Machine) {
  const fd = m.openIoasidFd();
  const dev = m.device('dev0');
  dev.bindIoasidFd(fd, { label: 'bench' });
  return { fd, dev };
}

function row(vendor: string, name: string, value: number, unit: string, baseline: number | null, target: number | null, note?: string): BenchRow {
  const ratio = baseline ? value / baseline : null;
  const ok = target === null ? null : name === 'map-huge' ? value <= target : ratio !== null && ratio <= target;
  const t = target === null ? 'report' : name === 'map-huge' ? `≤ ${target} ms` : `≤ ${target}×`;
  const of = target === null ? null : name === 'map-huge' ? 'value' : 'ratio';
  return { vendor, name, value, unit, baseline, ratio, target: t, targetMax: target, targetOf: of, ok, note };
}

/** map-4k and unmap-4k: MAP_DMA of scattered memory (4 KiB IOPTEs, pinning included) vs the entry-write limit. */
export function map4k(vendor: string, s: BenchSettings): BenchRow[] {
  const m = machine(vendor);
  const { fd, dev } = bound(m);
  const size = BigInt(s.mapPages) * KiB4;
  const space = allocSpace(fd, dev, size, KiB4);
  const va = m.vmm.mmap(size);
  let unmapNs = 0;
  const unmaps: number[] = [];
  const map = (): number => {
    const t = nowNs();
    fd.mapDma({ ioasid: space.ioasid, iova: space.base, vaddr: va, size });
    const ns = (nowNs() - t) / s.mapPages;
    const u = nowNs();
    fd.unmapDma({ ioasid: space.ioasid, iova: space.base, size });
    unmaps.push((nowNs() - u) / s.mapPages);
    return ns;
  };
  const base = entryWriteBaseline(s.mapPages);
  const r = interleaved(s.runs, map, base);
  unmapNs = [...unmaps].sort((a, b) => a - b)[unmaps.length >> 1];
  fd.close();
  return [
    row(vendor, 'map-4k', r.subject, 'ns/page', r.baseline, 10, `${s.mapPages} pages`),
    row(vendor, 'unmap-4k', unmapNs, 'ns/page', r.baseline, 10),
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
      rows.push(row(vendor, `map-huge`, NaN, 'ms', null, huge === '1G' ? 1 : null, `${huge} pages: no 64 GiB space (${(e as Error).message})`));
      continue;
    }
    const times: number[] = [];
    for (let r = 0; r < s.runs; r++) {
      const t = nowNs();
      fd.mapDma({ ioasid: space.ioasid, iova: space.base, vaddr: va, size });
      times.push((nowNs() - t) / 1e6);
      if (r < s.runs - 1) fd.unmapDma({ ioasid: space.ioasid, iova: space.base, size });
    }
    const entries = countLeaves(fd.dumpPgtable(space.ioasid).root);
    times.sort((a, b) => a - b);
    rows.push(row(vendor, 'map-huge', times[times.length >> 1], 'ms', null, huge === '1G' ? 1 : null, `${huge} pages, ${entries} entries written`));
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
  const r = interleaved(s.runs, once(full, full.base + big), once(empty, empty.base));
  fd.close();
  return [row(vendor, 'map-scaling', r.subject, 'ns/page', r.baseline, 1.3, '64 MiB beside 1 GiB ÷ into an empty IOASID')];
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
    let acc = 0;
    const t = nowNs();
    for (const f of frames) {
      req.iovaFrame = f;
      acc ^= m.driver.translate(req) as number;
    }
    const ns = (nowNs() - t) / frames.length;
    sink(acc);
    return ns;
  };
  translateAll(); // warm
  const hit = interleaved(s.runs, translateAll, mapGetBaseline(frames));
  const levels = fd.lookup(space.ioasid, space.base).steps.length;
  const walk = interleaved(
    s.runs,
    () => {
      fd.invalidateCache({ ioasid: space.ioasid, all: true });
      return translateAll();
    },
    chainBaseline(frames.length, levels),
  );
  translateAll();
  const iovas = frames.map((f) => BigInt(f) << 12n);
  const api = interleaved(
    s.runs,
    () => {
      const t = nowNs();
      for (const iova of iovas) sink(dev.dmaRead(iova, 8)[0]);
      return (nowNs() - t) / iovas.length;
    },
    translateAll,
  );
  fd.close();
  return [
    row(vendor, 'translate-hit', hit.subject, 'ns/op', hit.baseline, 3, `${frames.length} random pages, warm IOTLB`),
    row(vendor, 'translate-walk', walk.subject, 'ns/op', walk.baseline, 4, `${levels}-level walks after invalidate-all`),
    row(vendor, 'dma-api', api.subject, 'ns/op', api.baseline, null, 'device.dmaRead(iova, 8) ÷ translate-hit'),
  ];
}

/** translate-nested: full two-stage walks through a bound guest table (hardware nesting only). */
export function translateNested(vendor: string, s: BenchSettings): BenchRow[] {
  const m = machine(vendor, 256n << 20n);
  const { fd, dev } = bound(m);
  const caps = dev.getInfo();
  const guestFormat = caps.formats[0];
  if (caps.nesting !== 'hardware' || !guestFormat || !m.driver.guest || !caps.protocols.includes('user-pgtable')) {
    fd.close();
    return [row(vendor, 'translate-nested', NaN, 'ns/op', null, null, 'no hardware nesting with a bindable page table')];
  }
  const gpa = fd.alloc({ protocol: 'map' });
  dev.attachIoasid(gpa);
  // GPA = IOVA, around the holes between permitted ranges (the SMMU's MSI window).
  for (const r of fd.getInfo(gpa).permittedRanges) {
    const end = r.last + 1n < m.guest.size ? r.last + 1n : m.guest.size;
    if (r.start < end) fd.mapDma({ ioasid: gpa, iova: r.start, vaddr: m.guest.vaddr + r.start, size: end - r.start });
  }
  const child = fd.createNesting({ parent: gpa, protocol: 'user-pgtable' });
  dev.attachIoasid(child);
  const table = m.guest.createPageTable(m.driver.guest.pageTableFormat(guestFormat));
  const pages = Math.min(s.lookups, 4096);
  const order = shuffled(pages);
  // gIOVA page i → GPA page order[i] in the first 64 MiB, scattered by the shuffle.
  for (let i = 0; i < pages; i++) table.map(BigInt(0x40000000 + i * 4096), BigInt(order[i]) * KiB4 + (16n << 20n), KiB4);
  fd.bindPgtable({ ioasid: child, addr: table.root, format: guestFormat });
  const req: DmaRequest = { rid: dev.rid, pasid: -1, iovaFrame: 0, write: false, privileged: false };
  const frames = order.map((i) => 0x40000 + i);
  const walkAll = () => {
    fd.invalidateCache({ ioasid: child, all: true });
    fd.invalidateCache({ ioasid: gpa, all: true });
    let acc = 0;
    const t = nowNs();
    for (const f of frames) {
      req.iovaFrame = f;
      const r = m.driver.translate(req);
      if (typeof r !== 'number') throw new Error(`nested translation faulted: ${r.name}`);
      acc ^= r;
    }
    sink(acc);
    return (nowNs() - t) / frames.length;
  };
  const levels = fd.lookup(child, 0x40000000n).steps.length;
  const r = interleaved(s.runs, walkAll, chainBaseline(frames.length, levels));
  fd.close();
  return [row(vendor, 'translate-nested', r.subject, 'ns/op', r.baseline, null, `${pages} two-stage walks (${levels} steps as LOOKUP shows them)`)];
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
    s.runs,
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
  return [row(vendor, 'shadow-update', r.subject, 'ns/op', r.baseline, 3, 'child map+unmap of 4 KiB ÷ plain map+unmap of 4 KiB')];
}

let gc: (() => void) | undefined;
function collect(): void {
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  gc();
  gc();
}

/** memory-per-gib: heap + array-buffer growth per GiB mapped at 4 KiB ÷ the table bytes themselves. */
export function memoryPerGib(vendor: string, s: BenchSettings): BenchRow[] {
  const m = machine(vendor);
  const { fd, dev } = bound(m);
  const size = BigInt(s.mapPages) * KiB4;
  collect();
  const before = process.memoryUsage();
  const frames0 = m.hostMemory.kernelFramesInUse;
  // The space is allocated inside the measurement: a POWER window's TCE table exists from ALLOC on.
  const space = allocSpace(fd, dev, size, KiB4);
  const va = m.vmm.mmap(size);
  fd.mapDma({ ioasid: space.ioasid, iova: space.base, vaddr: va, size });
  collect();
  const after = process.memoryUsage();
  const tableBytes = (m.hostMemory.kernelFramesInUse - frames0) * 4096;
  const used = after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers);
  const gib = Number(size) / 2 ** 30;
  fd.close();
  return [row(vendor, 'memory-per-gib', used / gib, 'B/GiB', tableBytes / gib, 1.25, `${(tableBytes / 1024).toFixed(0)} KiB of kernel tables for ${gib} GiB mapped`)];
}
