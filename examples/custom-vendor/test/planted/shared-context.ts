import type { DeviceDesc, DmaRequest, IommuDomain, TranslateResult } from '@ioasid/core';
import { FlatIommuDriver } from '@ioasid-example/flat-iommu';
import { plant, routeUnitThrough } from './register.js';

/**
 * Bug 3 of issue 15, POWER's shape of it: the hardware cannot tell some devices apart (one PE
 * for RIDs that share a slot, rid >> 4 here) while core was told they are separately isolated;
 * their RID traffic goes wherever the latest of them was attached (the TVE follows the last
 * attach), so one reaches the address space the other was given.
 */
class SharedContextDriver extends FlatIommuDriver {
  /** The unit's real walk; the bus reaches it through the planted translate below. */
  private readonly walk = routeUnitThrough(this);
  /** Slot → the RID whose context the whole slot uses now. */
  private readonly latest = new Map<number, number>();

  override createDomain(req: Parameters<FlatIommuDriver['createDomain']>[0]): IommuDomain {
    const dom = super.createDomain(req);
    const attach = dom.attach.bind(dom);
    dom.attach = (dev: DeviceDesc, pasid: number | undefined, replacing?: IommuDomain) => {
      attach(dev, pasid, replacing);
      if (pasid === undefined && dev.kind === 'pdev') this.latest.set(dev.rid >> 4, dev.rid);
    };
    return dom;
  }

  override translate(req: DmaRequest): TranslateResult {
    if (req.pasid >= 0) return this.walk(req);
    const rid = req.rid;
    req.rid = this.latest.get(rid >> 4) ?? rid;
    try {
      return this.walk(req);
    } finally {
      req.rid = rid;
    }
  }
}

export const sharedContextVendor = plant('flat-planted-shared-context', 'flat IOMMU that routes RIDs of one slot through the last-attached one', (ctx) => new SharedContextDriver(ctx));
