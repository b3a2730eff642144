import { fail } from '../base/errors.js';
import { u64, hex } from '../base/args.js';
import { didYouMean } from '../base/did-you-mean.js';
import type { HostMemory } from './host-memory.js';
import { PAGE_SHIFT, PAGE_SIZE } from './host-memory.js';
import { HugeRegion, OrdinaryRegion, type VmmRegion } from './vmm-region.js';

export { VmmRegion, OrdinaryRegion, HugeRegion } from './vmm-region.js';

export type HugePageSize = '2M' | '1G';

/** The options of `vmm.mmap`. */
export interface MmapOptions {
  /** Back the mapping with huge pages reserved now, as hugetlbfs does. */
  hugePages?: HugePageSize;
}
const HUGE_FRAMES: Record<HugePageSize, number> = { '2M': 512, '1G': 262144 };

const VMM_BASE = 0x7f0000000000n;
/** The VMM's user address space ends here (x86-64 with 5-level paging: 56-bit user space). */
export const VMM_VA_LIMIT = 1n << 56n;

/** The VMM process's address space: mmap'd regions backed by host frames. */
export class VmmMemory {
  private readonly regions: VmmRegion[] = [];
  private nextVaddr = VMM_BASE;
  /** Set by the machine: is any part of this range pinned by an IOASID fd? */
  pinnedCheck: (vaddr: bigint, size: bigint) => boolean = () => false;

  constructor(private readonly host: HostMemory) {}

  mmap(size: bigint, options: MmapOptions = {}): bigint {
    u64(size, 'size');
    if (options === null || typeof options !== 'object' || Array.isArray(options)) fail('EINVAL', 'options must be an object ({ hugePages? })');
    const extra = Object.keys(options).find((k) => k !== 'hugePages');
    if (extra !== undefined) fail('EINVAL', `options.${extra} is not an mmap option (only hugePages)${didYouMean(extra, ['hugePages'])}`);
    const huge = options.hugePages;
    if (huge !== undefined && huge !== '2M' && huge !== '1G') fail('EINVAL', `hugePages must be '2M' or '1G' (got ${typeof huge === 'string' ? huge : typeof huge})`);
    const hugeFrames = huge ? HUGE_FRAMES[huge] : 1;
    const unit = BigInt(hugeFrames * PAGE_SIZE);
    if (size === 0n || size % unit !== 0n) fail('EINVAL', `size ${hex(size)} must be a non-zero multiple of ${hex(unit)}`);
    const vaddr = ((this.nextVaddr + unit - 1n) / unit) * unit;
    if (vaddr + size > VMM_VA_LIMIT) {
      fail('ENOMEM', `no room for 0x${size.toString(16)} bytes in the VMM's address space (it ends at 0x${VMM_VA_LIMIT.toString(16)}; next free 0x${vaddr.toString(16)})`);
    }
    // Ordinary memory costs nothing until touched; huge pages are reserved now, as hugetlbfs does.
    const region = huge ? HugeRegion.reserve(this.host, vaddr, size, hugeFrames) : new OrdinaryRegion(this.host, vaddr, size);
    this.nextVaddr = vaddr + size + BigInt(PAGE_SIZE); // leave a hole between mappings
    this.regions.push(region);
    return vaddr;
  }

  munmap(vaddr: bigint, size: bigint): void {
    u64(vaddr, 'vaddr');
    u64(size, 'size');
    const i = this.indexOf(vaddr);
    const r = i >= 0 ? this.regions[i] : undefined;
    if (!r || r.vaddr !== vaddr || r.size !== size) fail('EINVAL', `no mapping at vaddr ${hex(vaddr)} of size ${hex(size)}`);
    if (this.pinnedCheck(vaddr, size)) fail('EBUSY', `vaddr ${hex(vaddr)} is pinned for DMA`);
    r.release();
    this.regions.splice(i, 1);
  }

  /** Index of the region holding `vaddr`, or -1 (regions are kept in ascending order). */
  private indexOf(vaddr: bigint): number {
    let lo = 0;
    let hi = this.regions.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = this.regions[mid];
      if (vaddr < r.vaddr) hi = mid - 1;
      else if (vaddr >= r.end) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  /** The region holding all of [vaddr, vaddr+size), or EFAULT naming `what`. */
  region(vaddr: bigint, size: bigint, what = 'vaddr'): VmmRegion {
    const i = typeof vaddr === 'bigint' ? this.indexOf(vaddr) : -1;
    if (i < 0) fail('EFAULT', `${what} ${typeof vaddr === 'bigint' ? hex(vaddr) : String(vaddr)} is not mapped in the VMM`);
    const r = this.regions[i];
    if (vaddr + size > r.end) fail('EFAULT', `${what} range ${hex(vaddr)}+${hex(size)} runs past the end of its mapping at ${hex(r.end)}`);
    return r;
  }

  /** Reads VMM memory; a page never touched reads as zeros and stays unpopulated (the zero page). */
  read(vaddr: bigint, length: number): Uint8Array {
    checkLength(length);
    const out = new Uint8Array(length);
    if (length === 0) return out;
    const r = this.region(u64(vaddr, 'vaddr'), BigInt(length));
    this.walk(r, vaddr, length, (frame, within, off, n) => {
      if (frame >= 0) this.host.readInto(frame * PAGE_SIZE + within, out, off, n);
    });
    return out;
  }

  /** Writes VMM memory, populating the pages it touches (ENOMEM, nothing written, if memory is full). */
  write(vaddr: bigint, bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) fail('EINVAL', 'bytes must be a Uint8Array');
    if (bytes.length === 0) return;
    const r = this.region(u64(vaddr, 'vaddr'), BigInt(bytes.length));
    const first = Number((vaddr - r.vaddr) >> BigInt(PAGE_SHIFT));
    const last = Number((vaddr + BigInt(bytes.length) - 1n - r.vaddr) >> BigInt(PAGE_SHIFT));
    r.populate(first, last - first + 1);
    this.walk(r, vaddr, bytes.length, (frame, within, off, n) => this.host.writeFrom(frame * PAGE_SIZE + within, bytes, off, n));
  }

  private walk(r: VmmRegion, vaddr: bigint, length: number, fn: (frame: number, within: number, off: number, n: number) => void): void {
    let p = Number((vaddr - r.vaddr) >> BigInt(PAGE_SHIFT));
    let within = Number(vaddr & BigInt(PAGE_SIZE - 1));
    let off = 0;
    while (off < length) {
      const n = Math.min(length - off, PAGE_SIZE - within);
      fn(r.frameOf(p), within, off, n);
      off += n;
      p++;
      within = 0;
    }
  }
}

/** Largest single VMM read the model serves at once (1 GiB). */
const MAX_COPY = 1 << 30;

function checkLength(length: unknown): void {
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 0 || length > MAX_COPY) {
    fail('EINVAL', `length must be an integer in [0, 2^30] (got ${String(length)})`);
  }
}
