import type { HostMemory } from '@ioasid/core';

/**
 * A radix directory the kernel keeps in host memory: the device-directory table, indexed by
 * device_id. Non-leaf entries are V | PPN << 10 (spec §2.1.1); leaf slots hold `leafBytes` (a DC).
 * Inner pages are allocated when an ID first needs them and freed when their last ID goes, as
 * Linux's riscv_iommu_get_dc allocates DDT pages on demand.
 */
export class KernelDirectory {
  /** Inner and leaf pages below the root, by level and ID prefix, with the IDs using them. */
  private readonly pages = new Map<string, { frame: number; refs: number }>();
  private readonly users = new Set<number>();

  private constructor(
    private readonly mem: HostMemory,
    /** Index bits per level, leaf level first. */
    readonly widths: readonly number[],
    readonly leafBytes: number,
    readonly root: number,
  ) {}

  static create(mem: HostMemory, widths: readonly number[], leafBytes: number): KernelDirectory {
    return new KernelDirectory(mem, widths, leafBytes, mem.allocFrames(1, 1));
  }

  get levels(): number {
    return this.widths.length;
  }

  /** Frames the directory holds (root included). */
  get frames(): number {
    return 1 + this.pages.size;
  }

  private shiftBelow(level: number): number {
    let s = 0;
    for (let k = 0; k < level; k++) s += this.widths[k];
    return s;
  }

  private index(id: number, level: number): number {
    return Math.floor(id / 2 ** this.shiftBelow(level)) % 2 ** this.widths[level];
  }

  /** Key of the page at `level` that holds `id`'s entry. */
  private key(id: number, level: number): string {
    return `${level}:${Math.floor(id / 2 ** this.shiftBelow(level + 1))}`;
  }

  private frameAt(id: number, level: number): number {
    return level === this.levels - 1 ? this.root : this.pages.get(this.key(id, level))!.frame;
  }

  /** Makes the path to `id`'s leaf slot exist (all pages allocated before anything is written). */
  ensure(id: number): void {
    if (this.users.has(id)) return;
    const missing: number[] = [];
    for (let level = this.levels - 2; level >= 0; level--) if (!this.pages.has(this.key(id, level))) missing.push(level);
    const frames: number[] = [];
    try {
      for (let k = 0; k < missing.length; k++) frames.push(this.mem.allocFrames(1, 1));
    } catch (e) {
      for (const f of frames) this.mem.freeFrames(f, 1);
      throw e;
    }
    missing.forEach((level, k) => {
      this.pages.set(this.key(id, level), { frame: frames[k], refs: 0 });
      this.writeEntry(this.frameAt(id, level + 1) * 4096 + this.index(id, level + 1) * 8, (BigInt(frames[k]) << 10n) | 1n);
    });
    for (let level = 0; level < this.levels - 1; level++) this.pages.get(this.key(id, level))!.refs++;
    this.users.add(id);
  }

  /** Host address of `id`'s leaf slot (after ensure). */
  leafAddr(id: number): number {
    return this.frameAt(id, 0) * 4096 + this.index(id, 0) * this.leafBytes;
  }

  has(id: number): boolean {
    return this.users.has(id);
  }

  /** Clears `id`'s slot and frees the pages nothing else uses (the caller invalidates the caches). */
  release(id: number): void {
    if (!this.users.has(id)) return;
    this.mem.write(this.leafAddr(id), new Uint8Array(this.leafBytes));
    this.users.delete(id);
    for (let level = 0; level < this.levels - 1; level++) {
      const key = this.key(id, level);
      const p = this.pages.get(key)!;
      if (--p.refs > 0) continue;
      this.writeEntry(this.frameAt(id, level + 1) * 4096 + this.index(id, level + 1) * 8, 0n);
      this.mem.freeFrames(p.frame, 1);
      this.pages.delete(key);
    }
  }

  destroy(): void {
    for (const p of this.pages.values()) this.mem.freeFrames(p.frame, 1);
    this.pages.clear();
    this.users.clear();
    this.mem.freeFrames(this.root, 1);
  }

  private writeEntry(pa: number, v: bigint): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, v, true);
    this.mem.write(pa, b);
  }
}
