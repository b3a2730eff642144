import type { WalkTracer } from '@ioasid/core';

/**
 * How the unit's current translation runs. A DMA consults and fills the caches, untraced
 * (tracer null, caches and fill true). A traced walk (SmmuV3.walk) records every structure it
 * reads into `tracer`, consults the caches only when asked, without touching them, and fills
 * nothing (fill false).
 */
export interface WalkMode {
  readonly tracer: WalkTracer | null;
  /** Consult the configuration cache and the TLB. */
  readonly caches: boolean;
  /** Fill them (and count TLB hits). */
  readonly fill: boolean;
}
