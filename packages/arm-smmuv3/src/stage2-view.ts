import { fail, type FrameMemory, type HostMemory, type RadixPageTable } from '@ioasid/core';

const ZERO = new Uint32Array(1024);

/**
 * Guest-physical memory as the kernel sees it through a stage 2 table it owns: GPA frame →
 * host frame by decoding that table from memory. Read-only; an unmapped GPA frame reads as
 * zeros. Used to decode guest CD tables and guest stage 1 tables for DUMP/LOOKUP and to find
 * the ASID a guest CD holds; the hardware never uses it.
 */
export class Stage2View implements FrameMemory {
  private lastGfn = -1;
  private lastHost = -1;

  constructor(
    private readonly host: HostMemory,
    private readonly s2: RadixPageTable,
  ) {}

  /** Host frame behind guest frame `gfn`, or -1 when stage 2 does not map it. */
  hostFrame(gfn: number): number {
    if (gfn === this.lastGfn) return this.lastHost;
    let h = -1;
    if (gfn >= 0 && gfn < this.s2.spanFrames) {
      const leaf = this.s2.lookup(gfn);
      if (leaf && leaf.perms & 1) h = leaf.frame;
    }
    this.lastGfn = gfn;
    this.lastHost = h;
    return h;
  }

  wordsForRead(gfn: number): Uint32Array {
    const h = this.hostFrame(gfn);
    return h < 0 ? ZERO : this.host.wordsForRead(h);
  }

  wordBase(gfn: number): number {
    const h = this.hostFrame(gfn);
    return h < 0 ? 0 : this.host.wordBase(h);
  }

  wordsForWrite(_gfn: number): Uint32Array {
    fail('EINVAL', 'the stage 2 view of guest memory is read-only');
  }

  allocFrames(_count: number, _align: number): number {
    fail('EINVAL', 'the stage 2 view of guest memory cannot allocate');
  }

  freeFrames(_frame: number, _count: number): void {
    fail('EINVAL', 'the stage 2 view of guest memory cannot free');
  }

  /** A 32-bit word at a guest-physical byte address (0 when unmapped). */
  u32(gpa: number): number {
    const gfn = Math.floor(gpa / 4096);
    return this.wordsForRead(gfn)[this.wordBase(gfn) + (gpa % 4096) / 4];
  }

  read(gpa: number, words: number): Uint32Array {
    const out = new Uint32Array(words);
    for (let k = 0; k < words; k++) out[k] = this.u32(gpa + 4 * k);
    return out;
  }

  /** Whether the whole range is mapped readable. */
  mapped(gpa: number, bytes: number): boolean {
    for (let g = Math.floor(gpa / 4096); g * 4096 < gpa + bytes; g++) if (this.hostFrame(g) < 0) return false;
    return true;
  }

  invalidate(): void {
    this.lastGfn = -1;
  }
}
