import { fail } from '../uapi/errors.js';
import type { AllocInjector } from './alloc-injector.js';

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
export const WORDS_PER_FRAME = 1024;

/** Frames per storage chunk: host memory is a few large buffers carved into 4 KiB frames (DESIGN §6). */
const CHUNK_FRAMES = 512;
const CHUNK_BYTES = CHUNK_FRAMES * PAGE_SIZE;
const CHUNK_WORDS = CHUNK_BYTES / 4;
const ZERO_CHUNK = new Uint32Array(CHUNK_WORDS);

const INV_CHUNK_BYTES = 1 / CHUNK_BYTES;
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

/** Physical layout of the simulated host: kernel frames low, user reservations above. */
const KERNEL_BASE_FRAME = 0x1000; // 16 MiB
const USER_BASE_FRAME = 0x1000000; // 64 GiB
const HUGE_BASE_FRAME = 0x100000000; // 16 TiB
/** Host physical addresses stay below 2^46 so every vendor's output-address field holds them. */
export const HOST_PHYS_BITS = 46;

/**
 * Simulated host physical memory. Storage is allocated per 2 MiB chunk on first write, so a frame
 * that was never written reads as zeros and costs nothing. Frame numbers are plain numbers.
 */
export class HostMemory {
  private readonly chunks = new Map<number, Uint32Array>();
  private lastChunkIndex = -1;
  /** Byte address of the last chunk (-CHUNK_BYTES·2 when none), for the range test in u32. */
  private lastChunkBase = -2 * CHUNK_BYTES;
  private lastChunk: Uint32Array = ZERO_CHUNK;
  private nextKernelFrame = KERNEL_BASE_FRAME;
  private freeKernelFrames: number[] = [];
  private nextUserFrame = USER_BASE_FRAME;
  private nextHugeFrame = HUGE_BASE_FRAME;
  private kernelFrames = 0;
  private populatedUserFrames = 0;

  constructor(readonly injector: AllocInjector) {}

  /** Frames allocated to the kernel plus user frames populated on first touch (DESIGN §8). */
  get framesInUse(): number {
    return this.kernelFrames + this.populatedUserFrames;
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
    let chunk = this.chunks.get(ci);
    if (!chunk) {
      chunk = new Uint32Array(CHUNK_WORDS);
      this.chunks.set(ci, chunk);
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

  private chunkForRead(ci: number): Uint32Array {
    const chunk = this.chunks.get(ci);
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

  private chunkOrUndefined(ci: number): Uint32Array | undefined {
    const chunk = this.chunks.get(ci);
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
    for (let ci = Math.floor(frame / CHUNK_FRAMES); ci * CHUNK_FRAMES < end; ci++) {
      const chunk = this.chunks.get(ci);
      if (!chunk) continue;
      const lo = Math.max(frame, ci * CHUNK_FRAMES) - ci * CHUNK_FRAMES;
      const hi = Math.min(end, (ci + 1) * CHUNK_FRAMES) - ci * CHUNK_FRAMES;
      if (lo === 0 && hi === CHUNK_FRAMES && count > CHUNK_FRAMES) {
        this.chunks.delete(ci);
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

  /** One zeroed kernel frame (page tables, device tables, queues). */
  allocFrame(): number {
    this.injector.check('host frame');
    const frame = this.freeKernelFrames.length > 0 ? this.freeKernelFrames.pop()! : this.nextKernelFrame++;
    this.kernelFrames++;
    this.zeroFrames(frame, 1);
    return frame;
  }

  /** `count` contiguous zeroed frames aligned to `alignFrames` (a power of two). */
  allocFrames(count: number, alignFrames = 1): number {
    if (count === 1 && alignFrames === 1) return this.allocFrame();
    this.injector.check('contiguous host frames');
    const start = Math.ceil(this.nextKernelFrame / alignFrames) * alignFrames;
    for (let f = this.nextKernelFrame; f < start; f++) this.freeKernelFrames.push(f);
    this.nextKernelFrame = start + count;
    this.kernelFrames += count;
    this.zeroFrames(start, count);
    return start;
  }

  freeFrame(frame: number): void {
    this.freeKernelFrames.push(frame);
    this.kernelFrames--;
  }

  freeFrames(frame: number, count: number): void {
    for (let i = 0; i < count; i++) this.freeFrame(frame + i);
  }

  // ---- user reservations (VMM memory) ----------------------------------------------------

  /** Reserves host frames for an ordinary mapping; nothing is populated. */
  reserveUser(frames: number): number {
    const base = this.nextUserFrame;
    this.nextUserFrame += frames + 1; // a guard frame keeps regions from touching
    return base;
  }

  /** Reserves a naturally aligned, physically contiguous range for huge pages. */
  reserveHuge(frames: number, alignFrames: number): number {
    const base = Math.ceil(this.nextHugeFrame / alignFrames) * alignFrames;
    this.nextHugeFrame = base + frames;
    return base;
  }

  notePopulated(delta: number): void {
    this.populatedUserFrames += delta;
  }

  /** Drops the storage of user frames that are released (zeroing what a chunk still holds). */
  releaseUserFrames(frame: number, count: number): void {
    this.zeroFrames(frame, count);
  }
}
