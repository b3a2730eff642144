/**
 * The host frames behind a range of pinned pages, as the radix engine consumes them:
 * `frame(i)` is the 4 KiB frame of page i, `run(i)` how many frames from page i on are
 * physically contiguous (so the engine can pick 2 MiB / 1 GiB / block leaves).
 */
export interface PhysRuns {
  frame(i: number): number;
  run(i: number): number;
}

/** A single physically contiguous range. */
export function contiguousRuns(firstFrame: number, frames: number): PhysRuns {
  return { frame: (i) => firstFrame + i, run: (i) => frames - i };
}
