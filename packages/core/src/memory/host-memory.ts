import { fail } from '../base/errors.js';
import { AllocInjector } from './alloc-injector.js';
import { FramePool } from './frame-pool.js';

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
export const WORDS_PER_FRAME = 1024;
/** Frames per storage chunk (see CHUNK_FRAMES). */
export const STORE_CHUNK_FRAMES = 16;
/** Host memory comes in 2 MiB units (its size, an image's size), and the kernel-frame bits in 2 MiB blocks. */
const GRANULE_FRAMES = 512;
const GRANULE_BYTES = GRANULE_FRAMES * 4096;

/**
 * Frames per storage chunk: host memory is buffers of 64 KiB carved into 4 KiB frames, made on
 * first write. Small, so what the model holds follows what was written (a 1 GiB map's 2 MiB of
 * tables takes 2–2.1 MiB of chunks, where 2 MiB chunks took 4 MiB), large enough that a walk
 * through neighbouring tables mostly stays in one.
 */
const CHUNK_FRAMES = STORE_CHUNK_FRAMES;
const CHUNK_BYTES = CHUNK_FRAMES * PAGE_SIZE;
const CHUNK_WORDS = CHUNK_BYTES / 4;
const ZERO_CHUNK = new Uint32Array(CHUNK_WORDS);

const INV_CHUNK_BYTES = 1 / CHUNK_BYTES;
/** Slots of the direct-mapped cache of chunks in front of the chunk map (a walk moves between a few tables' chunks). */
const CHUNK_SLOTS = 256;

/**
 * Frame numbers as the VMM's frame table stores them: 32-bit when every frame of the host fits
 * (host memory up to 16 TiB), 64-bit doubles otherwise (the 2^34 frames of a 2^46-byte host).
 */
export type FrameArray = Uint32Array | Float64Array;

/** Frame-table leaves a host keeps for reuse once a region gave them back (16 MiB of leaves at most). */
const SPARE_LEAVES_BYTES = 16 << 20;
const INV_CHUNK_FRAMES = 1 / CHUNK_FRAMES;

/**
 * Chunk index of a frame without a division. `frame & (CHUNK_FRAMES - 1)` is exact for any safe
 * integer (ToInt32 keeps the low bits), and scaling by a power of two is exact in a double.
 */
function chunkOfFrame(frame: number): number {
  return (frame - (frame & (CHUNK_FRAMES - 1))) * INV_CHUNK_FRAMES;
}

/** Copies up to this many bytes with a loop instead of creating typed-array views (a DMA of a few bytes). */
const SMALL_COPY = 64;

/** Byte `b` of a little-endian word array, as memory holds it. */
function copyBytes(words: Uint32Array, from: number, out: Uint8Array, at: number, n: number): void {
  for (let j = 0; j < n; j++) {
    const b = from + j;
    out[at + j] = (words[b >>> 2] >>> ((b & 3) << 3)) & 0xff;
  }
}

function storeBytes(words: Uint32Array, to: number, src: Uint8Array, from: number, n: number): void {
  for (let j = 0; j < n; j++) {
    const b = to + j;
    const sh = (b & 3) << 3;
    const w = b >>> 2;
    words[w] = ((words[w] & ~(0xff << sh)) | (src[from + j] << sh)) >>> 0;
  }
}

/** The low 16 MiB are firmware and the kernel image: never handed out, so frame 0 means "none". */
const RESERVED_LOW_FRAMES = 0x1000;
/**
 * No RAM behind the interrupt address range 0xFEE00000–0xFEEFFFFF, on every machine, as on a PC:
 * a DMA write there is an MSI and an IOMMU refuses to translate into it (VT-d's
 * SM_INTERRUPT_ADDR), so a page there could never be given to a device. The frame pool keeps the
 * RAM of the gigabyte around it as a fallback zone, so the kernel's frames stay low.
 */
export const INTERRUPT_HOLE_FRAMES: readonly [number, number] = [0xfee00, 0xfef00];
/**
 * Host physical addresses stay below 2^46 (64 TiB), so every modelled format's output address
 * (VT-d HAW 48, LPAE OAS 48, the TCE real page number) holds every frame of any machine.
 */
export const HOST_PHYS_BITS = 46;
/** Host memory of a machine unless `createMachine({ hostMemory })` says otherwise: 64 GiB. */
export const DEFAULT_HOST_MEMORY = 64n << 30n;
/** The smallest host memory a machine may have (the reserved low 16 MiB plus room to work). */
export const MIN_HOST_MEMORY = 64n << 20n;

/** Checks a `hostMemory` machine option: bytes, a multiple of 2 MiB, in [64 MiB, 2^46]. */
export function checkHostMemorySize(size: unknown, name = 'hostMemory'): bigint {
  if (typeof size !== 'bigint') fail('EINVAL', `${name} must be a size in bytes as a bigint (got ${typeof size})`);
  if (size < MIN_HOST_MEMORY || size > 1n << BigInt(HOST_PHYS_BITS) || size % BigInt(GRANULE_BYTES) !== 0n) {
    fail('EINVAL', `${name} must be a multiple of 2 MiB between 64 MiB and 2^${HOST_PHYS_BITS} bytes (got 0x${size.toString(16)})`);
  }
  return size;
}

/**
 * Simulated host physical memory. Storage is allocated per 64 KiB chunk on first write, so a frame
 * that was never written reads as zeros and costs nothing. Frame numbers are plain numbers.
 */
export class HostMemory {
  private readonly chunks = new Map<number, Uint32Array>();
  /** Which frames the kernel holds: one bit per frame, 64 bytes per 2 MiB chunk that has any. */
  private readonly kernelBits = new Map<number, Uint8Array>();
  /** Every frame of the machine, kernel's and VMM's alike. */
  private readonly pool: FramePool;
  /** Bytes of host memory (the machine's `hostMemory`). */
  readonly size: bigint;
  /** One past the last host-physical byte with memory behind it. */
  readonly limit: number;
  readonly totalFrames: number;
  private lastChunkIndex = -1;
  /** Byte address of the last chunk (-CHUNK_BYTES·2 when none), for the range test in u32. */
  private lastChunkBase = -2 * CHUNK_BYTES;
  private lastChunk: Uint32Array = ZERO_CHUNK;
  /** Chunk index held by each slot of the chunk cache (-1: none), and the chunk. */
  private readonly slotIndex = new Float64Array(CHUNK_SLOTS).fill(-1);
  private readonly slotChunk: Uint32Array[] = new Array<Uint32Array>(CHUNK_SLOTS).fill(ZERO_CHUNK);
  private kernelFrames = 0;
  private populatedUserFrames = 0;
  private readonly zero = (frame: number, count: number): void => this.zeroFrames(frame, count);
  /** Whether frame numbers fit the 32-bit frame table (FrameArray). */
  private readonly narrowFrames: boolean;
  /** Zeroed frame-table leaves given back by munmap'd regions, by length, for the next to populate. */
  private readonly spareLeaves = new Map<number, FrameArray[]>();
  private spareLeafBytes = 0;

  constructor(
    readonly injector: AllocInjector,
    size: bigint = DEFAULT_HOST_MEMORY,
  ) {
    this.size = checkHostMemorySize(size);
    this.limit = Number(size);
    this.totalFrames = Number(size >> BigInt(PAGE_SHIFT));
    this.pool = new FramePool(RESERVED_LOW_FRAMES, this.totalFrames, [INTERRUPT_HOLE_FRAMES]);
    this.narrowFrames = this.totalFrames <= 2 ** 32;
  }

  // ---- the VMM's frame table ---------------------------------------------------------------

  /**
   * A zeroed leaf of `length` frame numbers for a VMM region's frame table: one given back
   * before if there is one (memory the process already has, not fresh pages from the OS to
   * fault in), else a new one.
   */
  takeFrameLeaf(length: number): FrameArray {
    const spare = this.spareLeaves.get(length)?.pop();
    if (spare !== undefined) {
      this.spareLeafBytes -= spare.byteLength;
      return spare;
    }
    return this.narrowFrames ? new Uint32Array(length) : new Float64Array(length);
  }

  /** Takes back a leaf a region no longer needs (zeroing it), while the spares stay under SPARE_LEAVES_BYTES. */
  giveFrameLeaf(leaf: FrameArray): void {
    if (this.spareLeafBytes + leaf.byteLength > SPARE_LEAVES_BYTES) return;
    leaf.fill(0);
    let list = this.spareLeaves.get(leaf.length);
    if (!list) this.spareLeaves.set(leaf.length, (list = []));
    list.push(leaf);
    this.spareLeafBytes += leaf.byteLength;
  }

  /** Frames allocated to the kernel plus user frames populated on first touch. */
  get framesInUse(): number {
    return this.kernelFrames + this.populatedUserFrames;
  }

  /** Frames nobody holds: neither the kernel, nor a VMM page, nor a huge-page reservation. */
  get framesFree(): number {
    return this.pool.freeFrames;
  }

  get kernelFramesInUse(): number {
    return this.kernelFrames;
  }

  // ---- hardware view -------------------------------------------------------------------

  /** Raw host-physical bytes; never-written frames read as zeros. No side effect. */
  read(pa: bigint | number, length: number): Uint8Array {
    const start = typeof pa === 'bigint' ? Number(pa) : pa;
    if (!Number.isSafeInteger(start) || start < 0 || length < 0) fail('EINVAL', `pa 0x${pa.toString(16)} is not a host address`);
    const out = new Uint8Array(length);
    this.readInto(start, out);
    return out;
  }

  /** One little-endian 32-bit word at a 4-byte-aligned physical address. */
  u32(pa: number): number {
    // Hot path of every hardware walk: a hit in the last chunk costs a subtraction, no division.
    const off = pa - this.lastChunkBase;
    if (off >= 0 && off < CHUNK_BYTES) return this.lastChunk[off >>> 2];
    const within = pa & (CHUNK_BYTES - 1);
    return this.chunkForRead((pa - within) * INV_CHUNK_BYTES)[within >>> 2];
  }

  /** A 64-bit little-endian value as a bigint (slow path: decoders and dumps). */
  u64(pa: number): bigint {
    return (BigInt(this.u32(pa + 4)) << 32n) | BigInt(this.u32(pa));
  }

  // ---- word access for table code ----------------------------------------------------------

  /** The chunk holding `frame`, for reading (a shared zero chunk if never written). */
  wordsForRead(frame: number): Uint32Array {
    const ci = chunkOfFrame(frame);
    return ci === this.lastChunkIndex ? this.lastChunk : this.chunkForRead(ci);
  }

  /** The chunk holding `frame`, allocating its storage; index with wordBase(frame). */
  wordsForWrite(frame: number): Uint32Array {
    const ci = chunkOfFrame(frame);
    if (ci === this.lastChunkIndex && this.lastChunk !== ZERO_CHUNK) return this.lastChunk;
    let chunk = this.stored(ci);
    if (!chunk) {
      chunk = new Uint32Array(CHUNK_WORDS);
      this.chunks.set(ci, chunk);
      this.slotIndex[ci & (CHUNK_SLOTS - 1)] = ci;
      this.slotChunk[ci & (CHUNK_SLOTS - 1)] = chunk;
    }
    this.lastChunkIndex = ci;
    this.lastChunkBase = ci * CHUNK_BYTES;
    this.lastChunk = chunk;
    return chunk;
  }

  /** Index of the frame's first word in its chunk. */
  wordBase(frame: number): number {
    return (frame & (CHUNK_FRAMES - 1)) << 10;
  }

  /** The stored chunk `ci` (undefined if never written), through the chunk cache (`& (CHUNK_SLOTS - 1)` is exact for any safe integer). */
  private stored(ci: number): Uint32Array | undefined {
    const s = ci & (CHUNK_SLOTS - 1);
    if (this.slotIndex[s] === ci) return this.slotChunk[s];
    const chunk = this.chunks.get(ci);
    if (chunk !== undefined) {
      this.slotIndex[s] = ci;
      this.slotChunk[s] = chunk;
    }
    return chunk;
  }

  private chunkForRead(ci: number): Uint32Array {
    const chunk = this.stored(ci);
    if (!chunk) return ZERO_CHUNK;
    this.lastChunkIndex = ci;
    this.lastChunkBase = ci * CHUNK_BYTES;
    this.lastChunk = chunk;
    return chunk;
  }

  write(pa: number, bytes: Uint8Array): void {
    this.writeFrom(pa, bytes, 0, bytes.length);
  }

  /** Copies `n` bytes of `src` from `from` to physical address `pa` (allocating chunk storage). */
  writeFrom(pa: number, src: Uint8Array, from: number, n: number): void {
    let done = 0;
    while (done < n) {
      const addr = pa + done;
      const within = addr & (CHUNK_BYTES - 1);
      const k = Math.min(n - done, CHUNK_BYTES - within);
      const chunk = this.wordsForWrite(((addr - within) * INV_CHUNK_BYTES) * CHUNK_FRAMES);
      if (k <= SMALL_COPY) storeBytes(chunk, within, src, from + done, k);
      else new Uint8Array(chunk.buffer, chunk.byteOffset + within, k).set(src.subarray(from + done, from + done + k));
      done += k;
    }
  }

  /** Copies `n` bytes at `pa` into `out` at `offset` (zeros where never written). */
  readInto(pa: number, out: Uint8Array, offset = 0, n = out.length - offset): void {
    let done = 0;
    while (done < n) {
      const addr = pa + done;
      const within = addr & (CHUNK_BYTES - 1);
      const k = Math.min(n - done, CHUNK_BYTES - within);
      const base = addr - within;
      const chunk = base === this.lastChunkBase ? this.lastChunk : this.chunkOrUndefined(base * INV_CHUNK_BYTES);
      if (!chunk) out.fill(0, offset + done, offset + done + k);
      else if (k <= SMALL_COPY) copyBytes(chunk, within, out, offset + done, k);
      else out.set(new Uint8Array(chunk.buffer, chunk.byteOffset + within, k), offset + done);
      done += k;
    }
  }

  /**
   * The memory as a sparse image: each 64 KiB chunk that was ever written, as its host-physical
   * address and bytes (little-endian words, as the hardware stores them), in address order.
   * Chunks never written read as zeros and are left out.
   */
  *image(): Generator<{ pa: number; bytes: Uint8Array }> {
    for (const ci of [...this.chunks.keys()].sort((a, b) => a - b)) {
      const c = this.chunks.get(ci)!;
      yield { pa: ci * CHUNK_BYTES, bytes: new Uint8Array(c.buffer, c.byteOffset, c.byteLength) };
    }
  }

  /**
   * Host memory holding a raw image (a memory dump, an emulator's pmemsave) at `base`, for the
   * hardware model to walk on its own. The size is the image's end rounded up to 2 MiB (at least
   * 64 MiB); bytes the image does not cover, and all-zero pages in it, read as zeros and take no
   * storage.
   */
  static fromImage(image: Uint8Array, base = 0n, injector = new AllocInjector()): HostMemory {
    const end = base + BigInt(image.length);
    const chunk = BigInt(GRANULE_BYTES);
    let size = ((end + chunk - 1n) / chunk) * chunk;
    if (size < MIN_HOST_MEMORY) size = MIN_HOST_MEMORY;
    if (base < 0n || size > 1n << BigInt(HOST_PHYS_BITS)) fail('EINVAL', `a memory image at 0x${base.toString(16)} of 0x${image.length.toString(16)} bytes does not fit ${HOST_PHYS_BITS}-bit host memory`);
    const mem = new HostMemory(injector, size);
    for (let off = 0; off < image.length; off += PAGE_SIZE) {
      const page = image.subarray(off, Math.min(off + PAGE_SIZE, image.length));
      if (page.some((b) => b !== 0)) mem.write(Number(base) + off, page);
    }
    return mem;
  }

  private chunkOrUndefined(ci: number): Uint32Array | undefined {
    const chunk = this.stored(ci);
    if (chunk) {
      this.lastChunkIndex = ci;
      this.lastChunkBase = ci * CHUNK_BYTES;
      this.lastChunk = chunk;
    }
    return chunk;
  }

  zeroFrames(frame: number, count: number): void {
    if (count === 1) {
      const chunk = this.chunks.get(Math.floor(frame / CHUNK_FRAMES));
      if (chunk) chunk.fill(0, this.wordBase(frame), this.wordBase(frame) + WORDS_PER_FRAME);
      return;
    }
    const end = frame + count;
    const first = Math.floor(frame / CHUNK_FRAMES);
    const last = Math.ceil(end / CHUNK_FRAMES);
    // A range wider than the chunks that exist (a huge page given back): visit those chunks, not every index.
    const ids = last - first > this.chunks.size ? [...this.chunks.keys()].filter((ci) => ci >= first && ci < last) : undefined;
    for (let k = 0, ci = first; ids ? k < ids.length : ci < last; k++, ci++) {
      if (ids) ci = ids[k];
      const chunk = this.chunks.get(ci);
      if (!chunk) continue;
      const lo = Math.max(frame, ci * CHUNK_FRAMES) - ci * CHUNK_FRAMES;
      const hi = Math.min(end, (ci + 1) * CHUNK_FRAMES) - ci * CHUNK_FRAMES;
      if (lo === 0 && hi === CHUNK_FRAMES && count > CHUNK_FRAMES) {
        this.chunks.delete(ci);
        if (this.slotIndex[ci & (CHUNK_SLOTS - 1)] === ci) {
          this.slotIndex[ci & (CHUNK_SLOTS - 1)] = -1;
          this.slotChunk[ci & (CHUNK_SLOTS - 1)] = ZERO_CHUNK;
        }
        if (this.lastChunkIndex === ci) {
          this.lastChunkIndex = -1;
          this.lastChunkBase = -2 * CHUNK_BYTES;
          this.lastChunk = ZERO_CHUNK;
        }
      } else {
        chunk.fill(0, lo * WORDS_PER_FRAME, hi * WORDS_PER_FRAME);
      }
    }
  }

  // ---- kernel frame allocator ------------------------------------------------------------

  /** Whether `frame` is held by the kernel (a table, a queue, a context structure), not VMM memory. */
  isKernelFrame(frame: number): boolean {
    const bits = this.kernelBits.get(Math.floor(frame / GRANULE_FRAMES));
    if (!bits) return false;
    const i = frame % GRANULE_FRAMES;
    return (bits[i >>> 3] & (1 << (i & 7))) !== 0;
  }

  private markKernel(frame: number, count: number, held: boolean): void {
    for (let f = frame; f < frame + count; f++) {
      const ci = Math.floor(f / GRANULE_FRAMES);
      let bits = this.kernelBits.get(ci);
      if (!bits) {
        if (!held) continue;
        bits = new Uint8Array(GRANULE_FRAMES / 8);
        this.kernelBits.set(ci, bits);
      }
      const i = f % GRANULE_FRAMES;
      if (held) bits[i >>> 3] |= 1 << (i & 7);
      else bits[i >>> 3] &= ~(1 << (i & 7));
    }
  }

  /** One zeroed kernel frame (page tables, device tables, queues); ENOMEM when memory is full. */
  allocFrame(): number {
    this.injector.check('host frame');
    const frame = this.pool.alloc1(this.zero);
    this.kernelFrames++;
    this.markKernel(frame, 1, true);
    return frame;
  }

  /** `count` contiguous zeroed frames aligned to `alignFrames` (a power of two). */
  allocFrames(count: number, alignFrames = 1): number {
    if (count === 1 && alignFrames === 1) return this.allocFrame();
    this.injector.check('contiguous host frames');
    const frame = this.pool.allocContiguous(count, alignFrames, this.zero);
    this.kernelFrames += count;
    this.markKernel(frame, count, true);
    return frame;
  }

  freeFrame(frame: number): void {
    this.pool.free(frame, 1);
    this.kernelFrames--;
    this.markKernel(frame, 1, false);
  }

  freeFrames(frame: number, count: number): void {
    this.pool.free(frame, count);
    this.kernelFrames -= count;
    this.markKernel(frame, count, false);
  }

  // ---- VMM pages (populated on first touch) ------------------------------------------------

  /** One zeroed frame for a VMM page being populated. */
  allocUserFrame(): number {
    const frame = this.pool.alloc1(this.zero);
    this.populatedUserFrames++;
    return frame;
  }

  /** `count` zeroed frames for VMM pages being populated, into `out` from `at` on (a bulk allocUserFrame). */
  allocUserFrames(out: FrameArray, at: number, count: number): void {
    this.pool.allocMany(out, at, count, this.zero);
    this.populatedUserFrames += count;
  }

  freeUserFrame(frame: number): void {
    this.pool.free(frame, 1);
    this.populatedUserFrames--;
  }

  /** Gives back the VMM frames [frame, frame + count) (a run of consecutive frames). */
  freeUserFrames(frame: number, count: number): void {
    this.pool.free(frame, count);
    this.populatedUserFrames -= count;
  }

  /** A naturally aligned, physically contiguous huge page for a hugetlbfs-like mapping (reserved, not yet populated). */
  reserveHugePage(frames: number): number {
    return this.pool.allocContiguous(frames, frames, this.zero);
  }

  releaseHugePage(frame: number, frames: number): void {
    this.pool.free(frame, frames);
  }

  /** A huge page of a reservation was touched (+frames) or given back (−frames). */
  notePopulated(delta: number): void {
    this.populatedUserFrames += delta;
  }
}
