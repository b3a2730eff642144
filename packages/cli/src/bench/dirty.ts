import type { Device, DumpTable, IoasidFd, Machine } from '@ioasid/core';
import { bound, machine, ratioRow, unsupportedRow, type BenchRow, type BenchSettings } from './cases.js';
import { interleaved, nowNs, scanFrames, sink } from './measure.js';
import { allocSpace, type Space } from './space.js';

const PAGE = 4096n;

/** The frames of the tables that hold 4 KiB leaves, from the dump (the memory a harvest reads). */
function leafTables(t: DumpTable | null, out: number[] = []): number[] {
  if (!t) return out;
  if (t.entries.some((e) => !e.child && e.decoded.kind === 'leaf')) out.push(Number(t.tableAddr >> 12n));
  for (const e of t.entries) if (e.child) leafTables(e.child, out);
  return out;
}

/**
 * Maps `bytes` at 4 KiB in a fresh IOASID with dirty tracking on, and dirties every hundredth page
 * of its first `dirty` bytes by DMA (each such write gives host memory a 2 MiB chunk of storage,
 * so the 16× mapped beside stays clean).
 */
function trackedSpace(m: Machine, fd: IoasidFd, dev: Device, bytes: bigint, dirty = bytes): Space | string {
  const sp = allocSpace(fd, dev, bytes, PAGE);
  if (!fd.getInfo(sp.ioasid).dirtyTracking) return 'GET_INFO says dirtyTracking: false';
  fd.mapDma({ ioasid: sp.ioasid, iova: sp.base, vaddr: m.vmm.mmap(bytes), size: bytes });
  fd.setDirtyTracking({ ioasid: sp.ioasid, enable: true });
  const one = new Uint8Array([1]);
  for (let p = 0n; p < dirty / PAGE; p += 100n) dev.dmaWrite(sp.base + p * PAGE, one);
  return sp;
}

/**
 * dirty-harvest: GET_DIRTY_BITMAP (noClear, so every round sees the same 1% dirty) over
 * `harvestBytes` of 4 KiB leaves ÷ a plain scan of the same table memory (every entry of the leaf
 * tables read once); dirty-harvest-scaling: the same harvest in an IOASID that maps 16× as much
 * beside the range ÷ alone (its cost must follow the range asked, not the whole space).
 */
export function dirtyHarvest(vendor: string, s: BenchSettings): BenchRow[] {
  const bytes = s.harvestBytes;
  const pages = Number(bytes / PAGE);
  const m = machine(vendor);
  const { fd, dev } = bound(m);
  const sp = trackedSpace(m, fd, dev, bytes);
  if (typeof sp === 'string') {
    fd.close();
    return [unsupportedRow(vendor, 'dirty-harvest', 'ns/page', sp), unsupportedRow(vendor, 'dirty-harvest-scaling', 'ns/page', sp)];
  }
  const harvest = (ioasid: number, base: bigint) => (): number => {
    const t = nowNs();
    const b = fd.getDirtyBitmap({ ioasid, iova: base, size: bytes, pageSize: PAGE, noClear: true });
    const ns = (nowNs() - t) / pages;
    sink(b[0]);
    return ns;
  };
  const frames = leafTables(fd.dumpPgtable(sp.ioasid).root);
  const size = bytes >= 1n << 30n ? `${bytes >> 30n} GiB` : `${bytes >> 20n} MiB`;
  const r = interleaved({ rounds: s.rounds, inner: 3 }, harvest(sp.ioasid, sp.base), scanFrames(m.hostMemory, frames, pages));
  const rows = [ratioRow(vendor, 'dirty-harvest', 'ns/page', r, 3, `${size} of 4 KiB leaves (${frames.length} leaf tables), 1% dirty, noClear ÷ reading every entry of those tables`)];
  const dev1 = m.device('dev1');
  dev1.bindIoasidFd(fd, { label: 'bench1' });
  const big = trackedSpace(m, fd, dev1, 17n * bytes, bytes);
  if (typeof big === 'string') rows.push(unsupportedRow(vendor, 'dirty-harvest-scaling', 'ns/page', big));
  else {
    const scaled = interleaved({ rounds: s.rounds, inner: 3 }, harvest(big.ioasid, big.base), harvest(sp.ioasid, sp.base));
    rows.push(ratioRow(vendor, 'dirty-harvest-scaling', 'ns/page', scaled, 1.3, `the same ${size} (1% dirty) with 16× as much mapped beside it ÷ alone`));
  }
  fd.close();
  return rows;
}
