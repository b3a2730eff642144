import type { DeviceDesc, DomainRequest, IoasidInfo, IommuDomain } from '@ioasid/core';
import { FlatIommuDriver } from '@ioasid-example/flat-iommu';
import { plant } from './register.js';

/**
 * Issue 19: GET_INFO claims a 1 GiB page size the flat format cannot hold (its only leaves are
 * 4 KiB); every map still works, page by page, so only a kit that checks the claim notices.
 */
class OverclaimingDriver extends FlatIommuDriver {
  override capabilities(dev: DeviceDesc): IoasidInfo {
    const c = super.capabilities(dev);
    return { ...c, pageSizes: [...c.pageSizes, 1n << 30n] };
  }

  override createDomain(req: DomainRequest): IommuDomain {
    const dom = super.createDomain(req);
    const info = dom.info.bind(dom);
    dom.info = () => {
      const i = info();
      return { ...i, pageSizes: [...i.pageSizes, 1n << 30n] };
    };
    return dom;
  }
}

export const overclaimingVendor = plant('flat-planted-overclaim', 'flat IOMMU whose GET_INFO claims 1 GiB pages', (ctx) => new OverclaimingDriver(ctx));
