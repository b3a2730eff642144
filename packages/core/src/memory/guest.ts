import { fail } from '../base/errors.js';
import { hex, u64 } from '../base/args.js';
import type { FrameMemory } from './frame-memory.js';
import type { HostMemory } from './host-memory.js';
import { PAGE_SHIFT, PAGE_SIZE } from './host-memory.js';
import type { VmmMemory, VmmRegion } from './vmm.js';
import { RadixPageTable } from '../pgtable/engine.js';
import type { PtFormat } from '../pgtable/format.js';
import { ContiguousRuns } from './phys-runs.js';

const ZERO_FRAME = new Uint32Array(1024);

/**
 * Guest-physical memory: guest RAM is the VMM range [vaddr, vaddr+size), so GPA g
 * lives at VMM address vaddr + g. It also plays the guest kernel: it allocates guest frames and
 * builds guest page tables and PASID/CD tables in guest RAM with the same formats the vendors define.
 */
export class GuestMemory implements FrameMemory {
  private readonly region: VmmRegion;
  private readonly frames: number;
  /** Guest kernel frames are handed out from the top of guest RAM downwards. */
  private nextFree: number;
  private readonly freed: number[] = [];

  constructor(
    private readonly host: HostMemory,
    private readonly vmm: VmmMemory,
    readonly vaddr: bigint,
    readonly size: bigint,
  ) {
    this.region = vmm.region(vaddr, size, 'guest RAM');
    this.frames = Number(size >> BigInt(PAGE_SHIFT));
    this.nextFree = this.frames;
  }

  read(gpa: bigint, length: number): Uint8Array {
    this.check(gpa, length);
    return this.vmm.read(this.vaddr + gpa, length);
  }

  write(gpa: bigint, bytes: Uint8Array): void {
    this.check(gpa, bytes.length);
    this.vmm.write(this.vaddr + gpa, bytes);
  }

  private check(gpa: bigint, length: number): void {
    u64(gpa, 'gpa');
    if (gpa + BigInt(length) > this.size) fail('EFAULT', `gpa ${hex(gpa)}+${length} is outside guest RAM (size ${hex(this.size)})`);
  }

  /** Host frame backing guest frame `gfn`, or -1 outside guest RAM. */
  hostFrame(gfn: number): number {
    if (gfn < 0 || gfn >= this.frames) return -1;
    return this.region.frameOf(gfn);
  }

  // ---- FrameMemory over guest-physical frames -----------------------------------------------

  /** A guest frame outside guest RAM, or never touched, reads as zeros. */
  wordsForRead(gfn: number): Uint32Array {
    const hf = this.hostFrame(gfn);
    return hf < 0 ? ZERO_FRAME : this.host.wordsForRead(hf);
  }

  wordsForWrite(gfn: number): Uint32Array {
    if (gfn < 0 || gfn >= this.frames) fail('EFAULT', `guest frame ${hex(gfn)} is outside guest RAM`);
    this.region.populate(gfn, 1);
    return this.host.wordsForWrite(this.region.frameOf(gfn));
  }

  wordBase(gfn: number): number {
    const hf = this.hostFrame(gfn);
    return hf < 0 ? 0 : this.host.wordBase(hf);
  }

  /** Guest-kernel frame allocation (zeroed), from the top of guest RAM down. */
  allocFrames(count: number, alignFrames = 1): number {
    if (count === 1 && this.freed.length > 0) {
      const f = this.freed.pop()!;
      this.zero(f, 1);
      return f;
    }
    let start = this.nextFree - count;
    start -= start % alignFrames;
    if (start < 0) fail('ENOMEM', 'guest RAM exhausted by guest page tables');
    this.nextFree = start;
    this.zero(start, count);
    return start;
  }

  freeFrames(gfn: number, count: number): void {
    for (let i = 0; i < count; i++) this.freed.push(gfn + i);
  }

  /** A guest page allocation in GPA bytes (for data buffers the guest hands to a device). */
  allocPages(bytes: bigint): bigint {
    const n = Number((bytes + BigInt(PAGE_SIZE) - 1n) >> BigInt(PAGE_SHIFT));
    return BigInt(this.allocFrames(n, 1)) << BigInt(PAGE_SHIFT);
  }

  private zero(gfn: number, count: number): void {
    this.write(BigInt(gfn) << BigInt(PAGE_SHIFT), new Uint8Array(count * PAGE_SIZE));
  }

  /** Builds a page table in guest memory, as the guest kernel would (e.g. a VT-d first-level or LPAE stage-1 table). */
  createPageTable(format: PtFormat): GuestPageTable {
    return new GuestPageTable(RadixPageTable.create(this, format));
  }
}

/** A guest-owned page table: addresses are GVA → GPA, all `bigint` bytes. */
export class GuestPageTable {
  constructor(readonly table: RadixPageTable) {}

  /** GPA of the top-level table (what BIND_PGTABLE takes). */
  get root(): bigint {
    return BigInt(this.table.root) << BigInt(PAGE_SHIFT);
  }

  map(gva: bigint, gpa: bigint, size: bigint, prot: { read?: boolean; write?: boolean } = { read: true, write: true }): void {
    const p = (prot.read === false ? 0 : 1) | (prot.write ? 2 : 0);
    const first = Number(gpa >> BigInt(PAGE_SHIFT));
    const frames = Number(size >> BigInt(PAGE_SHIFT));
    this.table.map(Number(gva >> BigInt(PAGE_SHIFT)), frames, new ContiguousRuns(first, frames), p);
  }

  unmap(gva: bigint, size: bigint): void {
    this.table.unmap(Number(gva >> BigInt(PAGE_SHIFT)), Number(size >> BigInt(PAGE_SHIFT)));
  }
}
