import type { DeviceDesc, HostMemory, IommuDomain } from '@ioasid/core';
import type { Attachment, FlushCaps } from './cache-tags.js';
import type { ContextTables } from './context-table.js';
import type { FirstLevelFormat, FirstLevelLevels } from './formats/first-level.js';
import type { PgtableFormat } from '@ioasid/core';
import type { InvDesc } from './tables/inv-desc.js';
import type { PasidEntry } from './tables/pasid-entry.js';

/** An attachment with the device it routes (what a domain keeps per (device, PASID) route). */
export type DeviceAttachment = Attachment & { dev: DeviceDesc };

/** What the driver's route bookkeeping needs of a domain: the PASID entry it wants and its routes. */
export interface RouteOwner {
  readonly did: number;
  readonly attachments: DeviceAttachment[];
  pasidEntry(): PasidEntry | null;
}

/**
 * What a VT-d domain needs from the driver that created it (after Linux's `struct intel_iommu`
 * as the domains see it): the unit's geometry, domain-ID release, the PASID-entry programming of
 * routes, the invalidation queue and the context tables for DUMP. The driver implements it; the
 * domains import only this, so the driver can import the domains without a circle.
 */
export interface VtdDomainHost {
  readonly host: HostMemory;
  /** The unit's host address width (HAW). */
  readonly haw: number;
  readonly addressWidth: number;
  readonly slLevels: 3 | 4 | 5;
  readonly sllps: number;
  readonly pasidBits: number;
  readonly slPageSizes: bigint[];
  readonly flPageSizes: bigint[];
  readonly pageWalkSnoop: boolean;
  readonly flushCaps: FlushCaps;
  readonly tables: ContextTables;
  readonly qi: { submit(descs: InvDesc[]): void };
  freeDid(did: number): void;
  /** Null if `d` may take the route (dev, pasid), else why not. */
  checkRoute(d: RouteOwner, dev: DeviceDesc, pasid: number | undefined, replacing?: IommuDomain): string | null;
  attachRoute(d: RouteOwner, a: DeviceAttachment): void;
  detachRoute(d: RouteOwner, a: Attachment): void;
  /** Rewrites the PASID entry of a route after its owner changed what it wants (BIND_PGTABLE). */
  reprogram(a: Attachment): void;
  /** Sets or clears SSADE in the route's present second-stage or nested PASID entry, with its flushes. */
  setSsade(a: Attachment, enable: boolean): void;
  firstLevelFormat(levels: FirstLevelLevels): FirstLevelFormat;
  checkFirstLevelFormat(format: PgtableFormat, what: string): FirstLevelLevels;
}
