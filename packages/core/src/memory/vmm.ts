import { fail } from '../uapi/errors.js';
import { u64, hex } from '../uapi/args.js';
import type { HostMemory } from './host-memory.js';
import { PAGE_SHIFT, PAGE_SIZE } from './host-memory.js';
import { HugePageRuns, ScatteredRuns, type PhysRuns } from './phys-runs.js';

export type HugePageSize = '2M' | '1G';
const HUGE_FRAMES: Record<HugePageSize, number> = { '2M': 512, '1G': 262144 };

/** One mmap'd range of the VMM's address space and the host frames behind it. */
export class VmmRegion {
  readonly pages: number;
  /** For huge regions: one bit per huge page; otherwise one bit per 4 KiB page. */
  private readonly touched: Uint32Array;
  private readonly touchShift: number;

  constructor(
    private readonly host: HostMemory,
    readonly vaddr: bigint,
    readonly size: bigint,
    readonly baseFrame: number,
    readonly hugeFrames: number, // 1 for ordinary memory
  ) {
    this.pages = Number(size >> BigInt(PAGE_SHIFT));
    this.touchShift = Math.log2(hugeFrames);
    this.touched = new Uint32Array(Math.ceil((this.pages >>> this.touchShift) / 32) + 1);
  }

  get end(): bigint {
    return this.vaddr + this.size;
  }

  /**
   * Host frame of page `p`. Ordinary memory is handed out top-down, so neighbouring pages are
   * never physically adjacent and only 4 KiB IOPTEs can map them, as with scattered 4 KiB frames.
   */
  frameOf(p: number): number {
    return this.hugeFrames === 1 ? this.baseFrame + (this.pages - 1 - p) : this.baseFrame + p;
  }

  contiguousFrom(p: number): number {
    return this.hugeFrames === 1 ? 1 : this.hugeFrames - (p % this.hugeFrames);
  }

  runs(firstPage: number): PhysRuns {
    if (this.hugeFrames === 1) return new ScatteredRuns(this.baseFrame + this.pages - 1 - firstPage);
    return new HugePageRuns(this.baseFrame + firstPage, firstPage, this.hugeFrames);
  }

  /** Populates (first touch) the pages [first, first+count). */
  touch(first: number, count: number): void {
    const s = this.touchShift;
    const lo = first >>> s;
    const hi = (first + count - 1) >>> s;
    let added = 0;
    for (let u = lo; u <= hi; ) {
      const word = u >>> 5;
      const bit = u & 31;
      if (bit === 0 && u + 31 <= hi) {
        const w = this.touched[word];
        if (w !== 0xffffffff) {
          added += 32 - popcount(w);
          this.touched[word] = 0xffffffff;
        }
        u += 32;
        continue;
      }
      const m = 1 << bit;
      if ((this.touched[word] & m) === 0) {
        this.touched[word] |= m;
        added++;
      }
      u++;
    }
    if (added) this.host.notePopulated(added * this.hugeFrames);
  }

  populatedFrames(): number {
    let n = 0;
    for (const w of this.touched) n += popcount(w);
    return n * this.hugeFrames;
  }
}

function popcount(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

const VMM_BASE = 0x7f0000000000n;

/** The VMM process's address space: mmap'd regions backed by host frames. */
export class VmmMemory {
  private readonly regions: VmmRegion[] = [];
  private nextVaddr = VMM_BASE;
  /** Set by the machine: is any part of this range pinned by an IOASID fd? */
  pinnedCheck: (vaddr: bigint, size: bigint) => boolean = () => false;

  constructor(private readonly host: HostMemory) {}

  mmap(size: bigint, options: { hugePages?: HugePageSize } = {}): bigint {
    u64(size, 'size');
    const huge = options.hugePages;
    if (huge !== undefined && !(huge in HUGE_FRAMES)) fail('EINVAL', `hugePages must be '2M' or '1G' (got ${String(huge)})`);
    const hugeFrames = huge ? HUGE_FRAMES[huge] : 1;
    const unit = BigInt(hugeFrames * PAGE_SIZE);
    if (size === 0n || size % unit !== 0n) fail('EINVAL', `size ${hex(size)} must be a non-zero multiple of ${hex(unit)}`);
    const frames = Number(size >> BigInt(PAGE_SHIFT));
    const vaddr = ((this.nextVaddr + unit - 1n) / unit) * unit;
    this.nextVaddr = vaddr + size + BigInt(PAGE_SIZE); // leave a hole between mappings
    const base = huge ? this.host.reserveHuge(frames, hugeFrames) : this.host.reserveUser(frames);
    this.regions.push(new VmmRegion(this.host, vaddr, size, base, hugeFrames));
    return vaddr;
  }

  munmap(vaddr: bigint, size: bigint): void {
    const i = this.regions.findIndex((r) => r.vaddr === vaddr && r.size === size);
    if (i < 0) fail('EINVAL', `no mapping at vaddr ${hex(vaddr)} of size ${hex(size)}`);
    if (this.pinnedCheck(vaddr, size)) fail('EBUSY', `vaddr ${hex(vaddr)} is pinned for DMA`);
    const r = this.regions[i];
    this.host.notePopulated(-r.populatedFrames());
    this.host.releaseUserFrames(Math.min(r.frameOf(0), r.frameOf(r.pages - 1)), r.pages);
    this.regions.splice(i, 1);
  }

  /** The region holding all of [vaddr, vaddr+size), or EFAULT naming `what`. */
  region(vaddr: bigint, size: bigint, what = 'vaddr'): VmmRegion {
    for (const r of this.regions) {
      if (vaddr >= r.vaddr && vaddr < r.end) {
        if (vaddr + size > r.end) fail('EFAULT', `${what} range ${hex(vaddr)}+${hex(size)} runs past the end of its mapping at ${hex(r.end)}`);
        return r;
      }
    }
    fail('EFAULT', `${what} ${hex(vaddr)} is not mapped in the VMM`);
  }

  read(vaddr: bigint, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.copy(vaddr, length, (pa, off, n) => out.set(this.host.read(pa, n), off));
    return out;
  }

  write(vaddr: bigint, bytes: Uint8Array): void {
    this.copy(vaddr, bytes.length, (pa, off, n) => this.host.write(pa, bytes.subarray(off, off + n)));
  }

  private copy(vaddr: bigint, length: number, fn: (pa: number, off: number, n: number) => void): void {
    if (length === 0) return;
    const r = this.region(vaddr, BigInt(length));
    let off = 0;
    while (off < length) {
      const va = vaddr + BigInt(off);
      const p = Number((va - r.vaddr) >> BigInt(PAGE_SHIFT));
      const within = Number(va & BigInt(PAGE_SIZE - 1));
      const n = Math.min(length - off, PAGE_SIZE - within);
      r.touch(p, 1);
      fn(r.frameOf(p) * PAGE_SIZE + within, off, n);
      off += n;
    }
  }
}
