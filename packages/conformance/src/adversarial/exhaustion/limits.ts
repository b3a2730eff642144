import type { ErrnoName, Machine } from '@ioasid/core';
import { ConformanceFailure } from '../../kit.js';
import { framesTotal } from '../machine.js';

/** Host frames of a machine's memory, when the core says, else from the size asked for. */
export const totalFrames = framesTotal;

/** The finite-memory rule: frames in use never exceed the host's frames. */
export function checkFinite(m: Machine, asked: bigint, at: string): void {
  const used = m.hostMemory.framesInUse;
  const total = totalFrames(m, asked);
  if (used > total) {
    throw new ConformanceFailure(`finite memory: ${at}: framesInUse is ${used} (${mib(used)}) on a host of ${total} frames (${mib(total)}): populating or pinning past host memory must fail with ENOMEM`);
  }
}

export function mib(frames: number): string {
  return `${(frames / 256).toFixed(frames % 256 === 0 ? 0 : 1)} MiB`;
}

/** Running out of a resource is ENOMEM (memory) or ENOSPC (an ID space), nothing else. */
export function checkExhaustionErrno(errno: ErrnoName, message: string, what: string, allowed: ErrnoName[] = ['ENOMEM', 'ENOSPC']): void {
  if (!allowed.includes(errno)) {
    throw new ConformanceFailure(`exhaustion: ${what} failed with ${message}; running out must be ${allowed.join(' or ')}`);
  }
}
