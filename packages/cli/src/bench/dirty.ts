import type { DumpTable, IoasidFd, Machine } from '@ioasid/core';
import { bound, machine, row, type BenchRow, type BenchSettings } from './cases.js';
import { interleaved, nowNs, sink } from './measure.js';
import { allocSpace } from './space.js';

const PAGE = 4096n;
const MiB = 1n << 20n;
const GiB = 1n << 30n;

/** The frames of the tables that hold 4 KiB leaves, from the dump (the memory a harvest reads). */
function leafTables(t: DumpTable | null, out: number[] = []): number[] {
  if (!t) return out;
  if (t.entries.some((e) => !e.child && e.decoded.kind === 'leaf')) out.push(Number(t.tableAddr >> 12n));
  for (const e of t.entries) if (e.child) leafTables(e.child, out);
  return out;
}

/** Maps `bytes` at 4 KiB in a fresh IOASID with dirty tracking on, and dirties every hundredth page. */
function trackedSpace(m: Machine, fd: IoasidFd, dev: ReturnType<typeof bound>['dev'], bytes: bigint): { ioasid: number; base: bigint } | string {
  const sp = allocSpace(fd, dev, bytes, PAGE);
  if (!fd.getInfo(sp.ioasid).dirtyTracking) return 'no dirty tracking (GET_INFO says dirtyTracking: false)';
  fd.mapDma({ ioasid: sp.ioasid, iova: sp.base, vaddr: m.vmm.mmap(bytes), size: bytes });
  fd.setDirtyTracking({ ioasid: sp.ioasid, enable: true });
  const one = new Uint8Array([1]);
  for (let p = 0n; p < bytes / PAGE; p += 100n) dev.dmaWrite(sp.base + p * PAGE, one);
  return sp;
}

/**
 * dirty-harvest: GET_DIRTY_BITMAP (noClear, so every round sees the same 1% dirty) over `bytes`
 * of 4 KiB leaves ÷ a plain scan of the same table memory; dirty-harvest-scaling: the same harvest
 * with 16× as much mapped elsewhere in the IOASID ÷ without (its cost follows the range asked).
 */
export function dirtyHarvest(vendor: string, s: BenchSettings): BenchRow[] {
  const bytes = s.runs > 5 ? GiB : 256n * MiB;
  const pages = Number(bytes / PAGE);
  const m = machine(vendor);
  const { fd, dev } = bound(m);
  const sp = trackedSpace(m, fd, dev, bytes);
  if (typeof sp === 'string') {
    fd.close();
    return [row(vendor, 'dirty-harvest', NaN, 'ns/page', null, null, sp)];
  }
  const harvest = (ioasid: number, base: bigint) => (): number => {
    const t = nowNs();
    const b = fd.getDirtyBitmap({ ioasid, iova: base, size: bytes, pageSize: PAGE, noClear: true });
    const ns = (nowNs() - t) / pages;
    sink(b[0]);
    return ns;
  };
  const frames = leafTables(fd.dumpPgtable(sp.ioasid).root);
  const mem = m.hostMemory;
  const scan = (): number => {
    let acc = 0;
    const t = nowNs();
    for (const f of frames) {
      const w = mem.wordsForRead(f);
      for (let i = mem.wordBase(f), e = i + 1024; i < e; i += 2) acc += w[i] & 0x240;
    }
    const ns = (nowNs() - t) / pages;
    sink(acc);
    return ns;
  };
  const r = interleaved(s.runs, harvest(sp.ioasid, sp.base), scan);
  const rows = [row(vendor, 'dirty-harvest', r.subject, 'ns/page', r.baseline, 3, `${pages} pages of 4 KiB, 1% dirty, noClear`)];
  // The same range in a second IOASID that also maps 16× as much elsewhere.
  const dev1 = m.device('dev1');
  dev1.bindIoasidFd(fd, { label: 'bench1' });
  const big = trackedSpace(m, fd, dev1, 17n * bytes);
  if (typeof big !== 'string') {
    const scaled = interleaved(s.runs, harvest(big.ioasid, big.base), harvest(sp.ioasid, sp.base));
    rows.push(row(vendor, 'dirty-harvest-scaling', scaled.subject, 'ns/page', scaled.baseline, 1.3, `the same ${pages} pages with 16× as much mapped beside them ÷ alone`));
  }
  fd.close();
  return rows;
}
