import { fail, getAddr, getField, type HostMemory, setField } from '@ioasid/core';
import { checkPointer, setPointer } from './pointer.js';
import { L1STD, L1STD_L2PTR, L1_DESC_BYTES, STRTAB_SPLIT } from './l1-descriptors.js';
import { STE_BYTES, STE_WORDS } from './ste.js';

export interface StreamTableLayout {
  twoLevel: boolean;
  /** log2 of the number of StreamIDs covered (STRTAB_BASE_CFG.LOG2SIZE). */
  log2size: number;
  /** The unit's OAS: every table of the stream table must lie below 2^addrBits (default 52). */
  addrBits?: number;
}

/**
 * The stream table in host memory, as the kernel builds it (Linux arm_smmu_init_strtab_*):
 * linear, or two-level with 256-STE leaf tables (STRTAB_SPLIT = 8) allocated when a StreamID
 * of their bus is first used.
 */
export class StreamTable {
  readonly split: number;
  readonly baseFrame: number;
  private readonly baseFrames: number;
  /** L1 index → L2 table frame (kernel bookkeeping; the hardware reads the L1 descriptors). */
  private readonly leaves = new Map<number, number>();

  constructor(
    private readonly host: HostMemory,
    readonly layout: StreamTableLayout,
  ) {
    this.split = layout.twoLevel ? STRTAB_SPLIT : 0;
    const bytes = layout.twoLevel ? 2 ** Math.max(0, layout.log2size - STRTAB_SPLIT) * L1_DESC_BYTES : 2 ** layout.log2size * STE_BYTES;
    this.baseFrames = Math.max(1, Math.ceil(bytes / 4096));
    this.baseFrame = host.allocFrames(this.baseFrames, this.baseFrames);
    try {
      checkPointer('STRTAB_BASE.ADDR', this.baseFrame * 4096, 64, Math.min(52, this.addrBits));
    } catch (e) {
      host.freeFrames(this.baseFrame, this.baseFrames);
      throw e;
    }
  }

  private get addrBits(): number {
    return this.layout.addrBits ?? 52;
  }

  get baseAddr(): number {
    return this.baseFrame * 4096;
  }

  private l2Frames(): number {
    return (2 ** this.split * STE_BYTES) / 4096;
  }

  /** Makes sure the STE of `sid` exists in memory (allocates its leaf table). */
  ensure(sid: number): void {
    if (sid < 0 || sid >= 2 ** this.layout.log2size) fail('EINVAL', `StreamID ${sid} is beyond the stream table (2^${this.layout.log2size})`);
    if (!this.layout.twoLevel) return;
    const l1 = Math.floor(sid / 2 ** this.split);
    if (this.leaves.has(l1)) return;
    const n = this.l2Frames();
    const frame = this.host.allocFrames(n, n);
    const d = new Uint32Array(2);
    try {
      setField(d, 0, L1STD.Span, this.split + 1);
      setPointer(d, 0, L1STD_L2PTR, frame * 4096, this.addrBits);
    } catch (e) {
      this.host.freeFrames(frame, n);
      throw e;
    }
    this.leaves.set(l1, frame);
    this.writeWords(this.baseAddr + l1 * L1_DESC_BYTES, d);
  }

  /** Physical address of the STE of `sid` (after ensure). */
  steAddr(sid: number): number {
    if (!this.layout.twoLevel) return this.baseAddr + sid * STE_BYTES;
    const l1 = Math.floor(sid / 2 ** this.split);
    const at = this.baseAddr + l1 * L1_DESC_BYTES;
    const d = [this.host.u32(at), this.host.u32(at + 4)];
    if (getField(d, 0, L1STD.Span) === 0) fail('EINVAL', `StreamID ${sid} has no leaf stream table`);
    return getAddr(d, 0, L1STD_L2PTR) + (sid % 2 ** this.split) * STE_BYTES;
  }

  writeSte(sid: number, words: Uint32Array): void {
    this.ensure(sid);
    this.writeWords(this.steAddr(sid), words);
  }

  readSte(sid: number): Uint32Array {
    const at = this.steAddr(sid);
    const w = new Uint32Array(STE_WORDS);
    for (let k = 0; k < STE_WORDS; k++) w[k] = this.host.u32(at + 4 * k);
    return w;
  }

  private writeWords(pa: number, w: Uint32Array): void {
    this.host.write(pa, new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
  }

  destroy(): void {
    for (const f of this.leaves.values()) this.host.freeFrames(f, this.l2Frames());
    this.leaves.clear();
    this.host.freeFrames(this.baseFrame, this.baseFrames);
  }
}
