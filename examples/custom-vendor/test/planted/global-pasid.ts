import type { DeviceDesc, DmaRequest, IommuDomain, TranslateResult } from '@ioasid/core';
import { FlatIommuDriver } from '@ioasid-example/flat-iommu';
import { plant, routeUnitThrough } from './register.js';

/**
 * Bug 4 of issue 15: a PASID-tagged request reaches an address space attached for that PASID on
 * another requester — here the PASID lookup ignores the RID when the requester's own table has
 * no entry, so a pdev tagging an mdev's host PASID reaches the mdev's space.
 */
class GlobalPasidDriver extends FlatIommuDriver {
  /** The unit's real walk; the bus reaches it through the planted translate below. */
  private readonly walk = routeUnitThrough(this);
  /** PASID → RIDs it is attached on. */
  private readonly owners = new Map<number, Set<number>>();

  override createDomain(req: Parameters<FlatIommuDriver['createDomain']>[0]): IommuDomain {
    const dom = super.createDomain(req);
    const attach = dom.attach.bind(dom);
    const detach = dom.detach.bind(dom);
    dom.attach = (dev: DeviceDesc, pasid: number | undefined, replacing?: IommuDomain) => {
      attach(dev, pasid, replacing);
      if (pasid !== undefined) this.owners.set(pasid, (this.owners.get(pasid) ?? new Set()).add(dev.rid));
    };
    dom.detach = (dev: DeviceDesc, pasid: number | undefined, restoring?: IommuDomain) => {
      detach(dev, pasid, restoring);
      if (pasid !== undefined && !restoring) this.owners.get(pasid)?.delete(dev.rid);
    };
    return dom;
  }

  override translate(req: DmaRequest): TranslateResult {
    const owners = req.pasid >= 0 ? this.owners.get(req.pasid) : undefined;
    if (!owners || owners.size === 0 || owners.has(req.rid)) return this.walk(req);
    const rid = req.rid;
    req.rid = owners.values().next().value as number;
    try {
      return this.walk(req);
    } finally {
      req.rid = rid;
    }
  }
}

export const globalPasidVendor = plant('flat-planted-global-pasid', 'flat IOMMU whose PASID lookup ignores the requester ID', (ctx) => new GlobalPasidDriver(ctx));
