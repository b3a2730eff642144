/**
 * translate-hit, translate-walk, dma-api and translate-nested: translations timed against
 * replays of the very reads the hardware made (its traced walks, its cache probes' reports).
 */
import { isTraceRead, WalkTracer, type CacheRead, type DmaRequest, type Machine, type TraceRead } from '@ioasid/core';
import { recordCacheReads, replayCacheReads } from './cache-replay.js';
import { interleaved, nowNs, recordReads, replayReads, sink } from './measure.js';
import { ratioRow, unsupportedRow, type BenchRow, type BenchSettings } from './rows.js';
import { bound, KiB4, machine, shuffled } from './setup.js';
import { allocSpace } from './space.js';

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
