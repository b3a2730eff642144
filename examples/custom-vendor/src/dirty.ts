import { ptHarvestDirty, type DirtyLog, type PtTableRef } from '@ioasid/core';
import { S2_INPUT_BITS } from './format.js';

/**
 * The kernel side of dirty tracking on the flat IOMMU (a unit whose CAP has DL).
 *
 * Turning tracking on or off is one bit, DT, in the entry of every route that walks the domain's
 * stage-2 table: the RIDs and PASIDs attached to it and those of its nested children. Rewriting
 * an entry invalidates the context or PASID cache holding it, which is all the unit needs: its
 * IOTLB entries remember whether D was set, and a logged write whose entry says it was not walks.
 *
 * The log is the D bit of each stage-2 leaf, in memory. Harvesting reads it with core's
 * ptHarvestDirty; a clearing harvest then drops the IOTLB entries of what it cleared (they say
 * D is set), so that the next write walks and sets D again.
 */
export interface DirtyHooks {
  setDirtyTracking(enable: boolean): void;
  readDirty(log: DirtyLog, clear: boolean): void;
}

/**
 * What the hooks use of a 'map' domain (driver.ts's MapDomain) and of the driver, described here
 * so that this file does not import driver.ts (which imports it). `C` is the driver's domain type.
 */
export interface DirtyDomain<C> {
  readonly did: number;
  /** The stage-2 flat table, the log. */
  readonly pt: PtTableRef;
  /** DT for the domain's routes: contextFor() puts it in the entries rewriteRoutes writes. */
  tracking: boolean;
  /** Nested children: their routes walk this stage 2, and their IOTLB entries carry its D. */
  readonly nested: ReadonlySet<C>;
  /** Drops the children's IOTLB entries. */
  flushNested(): void;
}

export interface DirtyDriver<C> {
  /** Rewrites the context / PASID entries routing to a domain, with their cache invalidations. */
  rewriteRoutes(dom: C): void;
  /** One IOTLB_PAGES command covering [iova, iova + size) in `did`. */
  invalidatePages(did: number, iova: bigint, size: bigint): void;
}

/** Entries in the stage-2 table: input frames at or above this are not translated. */
const S2_FRAMES = 2 ** (S2_INPUT_BITS - 12);

export function dirtyHooks<C>(drv: DirtyDriver<C>, dom: DirtyDomain<C> & C): DirtyHooks {
  return {
    setDirtyTracking(enable) {
      dom.tracking = enable;
      drv.rewriteRoutes(dom);
      for (const child of dom.nested) drv.rewriteRoutes(child);
    },

    readDirty(log, clear) {
      if (log.first >= S2_FRAMES) return;
      ptHarvestDirty(dom.pt, log, { clear });
      if (clear && log.leaves > 0) {
        // One IOTLB_PAGES command per run of adjacent cleared pages.
        for (const r of log.ranges()) drv.invalidatePages(dom.did, r.iova, r.size);
        dom.flushNested();
      }
    },
  };
}
