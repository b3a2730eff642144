import { fail, type FrameMemory, getAddr, getField, setField } from '@ioasid/core';
import { checkPointer, setPointer } from './pointer.js';
import { CD_BYTES, CD_WORDS } from './cd.js';
import { CD_SPLIT_64K, L1CD, L1CD_L2PTR, L1_DESC_BYTES } from './l1-descriptors.js';
import { S1FMT_64K_L2, S1FMT_LINEAR } from './ste.js';

export type CdLayout = 'linear' | 'two-level';

/**
 * Where CD table frames come from and what address a descriptor must hold to point at them:
 * a PA for a kernel table read directly, a GPA for a guest's table, or an IPA for a kernel
 * table the SMMU reaches through stage 2.
 */
export interface CdTableSpace {
  readonly mem: FrameMemory;
  /** Addresses the unit can reach here (the OAS for PAs, the IPA size for IPAs); default 52. */
  readonly addrBits?: number;
  alloc(frames: number): { frame: number; addr: number };
  free(frame: number, frames: number): void;
}

/** A FrameMemory used directly: frame n is at address n·4096 (host PAs, or GPAs in guest memory). */
export function directSpace(mem: FrameMemory, addrBits?: number): CdTableSpace {
  return {
    mem,
    addrBits,
    alloc: (frames) => {
      const frame = mem.allocFrames(frames, 1);
      return { frame, addr: frame * 4096 };
    },
    free: (frame, frames) => mem.freeFrames(frame, frames),
  };
}

/**
 * A CD table (SMMUv3 §3.4.3): linear (2^S1CDMax CDs), or two-level with 1024-CD (64 KiB) leaf
 * tables behind L1CD descriptors, as Linux builds it (S1Fmt 0b10, CTXDESC_L2_ENTRIES).
 */
export class CdTable {
  readonly s1fmt: number;
  /** The value of STE.S1ContextPtr: address of the linear table or of the L1 table. */
  readonly addr: number;
  private readonly rootFrame: number;
  private readonly rootFrames: number;
  private readonly leaves = new Map<number, { frame: number; addr: number }>();

  private constructor(
    private readonly space: CdTableSpace,
    readonly layout: CdLayout,
    readonly s1cdmax: number,
  ) {
    this.s1fmt = layout === 'linear' ? S1FMT_LINEAR : S1FMT_64K_L2;
    const bytes = layout === 'linear' ? 2 ** s1cdmax * CD_BYTES : 2 ** Math.max(0, s1cdmax - CD_SPLIT_64K) * L1_DESC_BYTES;
    this.rootFrames = Math.max(1, Math.ceil(bytes / 4096));
    const r = space.alloc(this.rootFrames);
    try {
      checkPointer('S1ContextPtr', r.addr, 64, Math.min(52, space.addrBits ?? 52));
    } catch (e) {
      space.free(r.frame, this.rootFrames);
      throw e;
    }
    this.rootFrame = r.frame;
    this.addr = r.addr;
  }

  static create(space: CdTableSpace, layout: CdLayout, s1cdmax: number): CdTable {
    if (layout !== 'linear' && layout !== 'two-level') fail('EINVAL', `layout ${String(layout)} must be 'linear' or 'two-level'`);
    if (!Number.isInteger(s1cdmax) || s1cdmax < 0 || s1cdmax > 20) fail('EINVAL', `s1cdmax ${s1cdmax} must be 0..20`);
    return new CdTable(space, layout, s1cdmax);
  }

  private static readonly LEAF_FRAMES = (2 ** CD_SPLIT_64K * CD_BYTES) / 4096;

  /** (frame, word offset) of the CD for `ssid`, allocating its leaf table when `create`. */
  private locate(ssid: number, create: boolean): [number, number] | null {
    if (!Number.isInteger(ssid) || ssid < 0 || ssid >= 2 ** this.s1cdmax) fail('EINVAL', `SubstreamID ${ssid} is beyond S1CDMax ${this.s1cdmax}`);
    let frame: number;
    let index: number;
    if (this.layout === 'linear') {
      frame = this.rootFrame;
      index = ssid;
    } else {
      const l1 = Math.floor(ssid / 2 ** CD_SPLIT_64K);
      let leaf = this.leaves.get(l1);
      if (!leaf) {
        if (!create) return null;
        leaf = this.space.alloc(CdTable.LEAF_FRAMES);
        const d = new Uint32Array(2);
        try {
          setField(d, 0, L1CD.V, 1);
          setPointer(d, 0, L1CD_L2PTR, leaf.addr, this.space.addrBits);
        } catch (e) {
          this.space.free(leaf.frame, CdTable.LEAF_FRAMES);
          throw e;
        }
        this.leaves.set(l1, leaf);
        this.writeAt(this.rootFrame, l1 * 2, d);
      }
      frame = leaf.frame;
      index = ssid % 2 ** CD_SPLIT_64K;
    }
    const byte = index * CD_BYTES;
    return [frame + Math.floor(byte / 4096), (byte % 4096) / 4];
  }

  private writeAt(frame: number, wordOffset: number, words: Uint32Array): void {
    const f = frame + Math.floor(wordOffset / 1024);
    const w = this.space.mem.wordsForWrite(f);
    w.set(words, this.space.mem.wordBase(f) + (wordOffset % 1024));
  }

  /** Allocates the leaf table holding `ssid` if it is missing; true when it did. */
  reserve(ssid: number): boolean {
    if (this.layout === 'linear') return false;
    const had = this.leaves.has(Math.floor(ssid / 2 ** CD_SPLIT_64K));
    this.locate(ssid, true);
    return !had;
  }

  /** Frees the (empty) leaf table holding `ssid` and invalidates its L1CD (undoes reserve). */
  dropLeaf(ssid: number): void {
    const l1 = Math.floor(ssid / 2 ** CD_SPLIT_64K);
    const leaf = this.leaves.get(l1);
    if (!leaf) return;
    this.writeAt(this.rootFrame, l1 * 2, new Uint32Array(2));
    this.leaves.delete(l1);
    this.space.free(leaf.frame, CdTable.LEAF_FRAMES);
  }

  /** Writes the 16 words of a CD at `ssid`. */
  write(ssid: number, cd: Uint32Array): void {
    const [frame, off] = this.locate(ssid, true)!;
    this.writeAt(frame, off, cd);
  }

  read(ssid: number): Uint32Array {
    const out = new Uint32Array(CD_WORDS);
    const at = this.locate(ssid, false);
    if (!at) return out;
    const w = this.space.mem.wordsForRead(at[0]);
    const b = this.space.mem.wordBase(at[0]) + at[1];
    for (let k = 0; k < CD_WORDS; k++) out[k] = w[b + k];
    return out;
  }

  clear(ssid: number): void {
    if (this.locate(ssid, false)) this.write(ssid, new Uint32Array(CD_WORDS));
  }

  /** The L1CD descriptor of leaf `l1` as stored (for tests and dumps). */
  l1Descriptor(l1: number): { valid: boolean; l2ptr: number } {
    const w = this.space.mem.wordsForRead(this.rootFrame);
    const b = this.space.mem.wordBase(this.rootFrame) + l1 * 2;
    const d = [w[b], w[b + 1]];
    return { valid: getField(d, 0, L1CD.V) === 1, l2ptr: getAddr(d, 0, L1CD_L2PTR) };
  }

  /** Frames this table holds (root and leaves). */
  get frames(): number {
    return this.rootFrames + this.leaves.size * CdTable.LEAF_FRAMES;
  }

  destroy(): void {
    for (const l of this.leaves.values()) this.space.free(l.frame, CdTable.LEAF_FRAMES);
    this.leaves.clear();
    this.space.free(this.rootFrame, this.rootFrames);
  }
}
