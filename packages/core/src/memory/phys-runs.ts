/**
 * The host frames behind a range of pinned pages, as the radix engine consumes them:
 * `frame(i)` is the 4 KiB frame of page i, `run(i)` how many frames from page i on are
 * physically contiguous (so the engine can pick 2 MiB / 1 GiB / block leaves).
 * The implementations are classes, not closures, so the engine's call sites stay monomorphic.
 */
export interface PhysRuns {
  frame(i: number): number;
  run(i: number): number;
}

/** A single physically contiguous range. */
export class ContiguousRuns implements PhysRuns {
  constructor(
    private readonly first: number,
    private readonly frames: number,
  ) {}
  frame(i: number): number {
    return this.first + i;
  }
  run(i: number): number {
    return this.frames - i;
  }
}

/** Ordinary VMM memory: neighbouring pages sit on descending, never adjacent frames. */
export class ScatteredRuns implements PhysRuns {
  constructor(private readonly top: number) {}
  frame(i: number): number {
    return this.top - i;
  }
  run(): number {
    return 1;
  }
}

/** Huge-page VMM memory: contiguous up to the end of each naturally aligned huge page. */
export class HugePageRuns implements PhysRuns {
  constructor(
    private readonly base: number,
    private readonly firstPage: number,
    private readonly hugeFrames: number,
  ) {}
  frame(i: number): number {
    return this.base + i;
  }
  run(i: number): number {
    return this.hugeFrames - ((this.firstPage + i) % this.hugeFrames);
  }
}

export function contiguousRuns(firstFrame: number, frames: number): PhysRuns {
  return new ContiguousRuns(firstFrame, frames);
}
