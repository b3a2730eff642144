/**
 * Memory a radix table lives in, addressed by 4 KiB frame numbers: host memory for the
 * kernel's tables, guest-physical memory for the tables a guest writes.
 */
export interface FrameMemory {
  /** The storage array holding `frame` (read-only use; may be a shared zero array). */
  wordsForRead(frame: number): Uint32Array;
  /** The storage array holding `frame`, allocated for writing. */
  wordsForWrite(frame: number): Uint32Array;
  /** Index of the frame's first 32-bit word in that array. */
  wordBase(frame: number): number;
  allocFrames(count: number, alignFrames: number): number;
  freeFrames(frame: number, count: number): void;
  /** Host memory only: whether a frame is the kernel's own (dumps label leaves that map one). */
  isKernelFrame?(frame: number): boolean;
}
