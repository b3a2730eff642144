import type { Device, IoasidFd, Machine } from '@ioasid/core';
import { ratioRow, unsupportedRow, type BenchRow, type BenchSettings } from './rows.js';
import { bound, machine } from './setup.js';
import { interleaved, nowNs, scanFrames, sink } from './measure.js';
import { allocSpace, type Space } from './space.js';

const PAGE = 4096n;

/** The frames of the tables that hold 4 KiB leaves, from the dump (the memory a harvest reads). */
/**
 * The host frames holding the 4 KiB leaf entries of [base, base + bytes), in address order, from
 * LOOKUP of one address per 2 MiB and the last page (512 entries per frame; a table of more than
 * one frame is counted by the frames the range uses; a dump is bounded, LOOKUP is not).
 */
function leafFrames(fd: IoasidFd, ioasid: number, base: bigint, bytes: bigint): number[] {
  const out = new Set<number>();
  const at = (iova: bigint) => {
    const v = fd.lookup(ioasid, iova);
    const last = v.steps.at(-1);
    if (v.pageSize === PAGE && last) out.add(Number(last.entryAddr >> 12n));
  };
  for (let off = 0n; off < bytes; off += 2n << 20n) at(base + off);
  at(base + bytes - PAGE);
  return [...out];
}

/**
 * Maps `bytes` at 4 KiB in a fresh IOASID with dirty tracking on, and dirties every hundredth page
 * of its first `dirty` bytes by DMA (each such write gives host memory a 64 KiB chunk of storage,
 * so the 16× mapped beside stays clean).
 */
function trackedSpace(m: Machine, fd: IoasidFd, dev: Device, bytes: bigint, dirty = bytes): Space | string {
  const sp = allocSpace(fd, dev, bytes, PAGE);
  if (!fd.getInfo(sp.ioasid).dirtyTracking) return 'GET_INFO says dirtyTracking: false';
  // One page into the mmap: the pages behind each 2 MiB of IOVA are then never one aligned 2 MiB
  // run, so the range is all 4 KiB leaves however the VMM's frames happen to be laid out.
  fd.mapDma({ ioasid: sp.ioasid, iova: sp.base, vaddr: m.vmm.mmap(bytes + PAGE) + PAGE, size: bytes });
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
  const frames = leafFrames(fd, sp.ioasid, sp.base, bytes);
  const size = bytes >= 1n << 30n ? `${bytes >> 30n} GiB` : `${bytes >> 20n} MiB`;
  // 20 warm-up rounds: the harvest loop reaches its optimised code only after some 20 to 40 calls
  // here (IOASID_BENCH_DEBUG=1 shows the rounds before it at about twice the steady cost; with 8
  // warm-up rounds some runs still had six timed rounds before it).
  const r = interleaved({ rounds: s.rounds, warmMs: s.warmMs, warm: 20, inner: 3 }, harvest(sp.ioasid, sp.base), scanFrames(m.hostMemory, frames, pages));
  const rows = [ratioRow(vendor, 'dirty-harvest', 'ns/page', r, 3, `${size} of 4 KiB leaves (${frames.length} frames of leaf entries), 1% dirty, noClear ÷ reading every entry in those frames`)];
  const dev1 = m.device('dev1');
  dev1.bindIoasidFd(fd, { label: 'bench1' });
  let big: Space | string;
  try {
    big = trackedSpace(m, fd, dev1, 17n * bytes, bytes);
  } catch (e) {
    big = e instanceof Error ? e.message : String(e);
  }
  if (typeof big === 'string') rows.push(unsupportedRow(vendor, 'dirty-harvest-scaling', 'ns/page', big));
  else {
    const scaled = interleaved({ rounds: s.rounds, warmMs: s.warmMs, inner: 3 }, harvest(big.ioasid, big.base), harvest(sp.ioasid, sp.base));
    rows.push(ratioRow(vendor, 'dirty-harvest-scaling', 'ns/page', scaled, 1.3, `the same ${size} (1% dirty) with 16× as much mapped beside it ÷ alone`));
  }
  fd.close();
  return rows;
}
