import type { DmaRequest, IommuDomain, InvalidateRequest, TranslateResult } from '@ioasid/core';
import { FlatIommuDriver } from '@ioasid-example/flat-iommu';
import { plant, routeUnitThrough } from './register.js';

/**
 * Bug 5 of issue 15: arithmetic that assumes small addresses throws RangeError — a DMA at an
 * IOVA of 2^52 and more, an invalidation of 2^60 bytes — where a DmaFault or EINVAL is due.
 */
class CrashingDriver extends FlatIommuDriver {
  /** The unit's real walk; the bus reaches it through the planted translate below. */
  private readonly walk = routeUnitThrough(this);

  override createDomain(req: Parameters<FlatIommuDriver['createDomain']>[0]): IommuDomain {
    const dom = super.createDomain(req);
    const invalidate = dom.invalidate.bind(dom);
    dom.invalidate = (r: InvalidateRequest) => {
      if (!r.all && r.size >= 1n << 60n) throw new RangeError(`invalidation size ${r.size} does not fit the command's 6-bit order field`);
      invalidate(r);
    };
    return dom;
  }

  override translate(req: DmaRequest): TranslateResult {
    if (req.iovaFrame >= 2 ** 40) throw new RangeError(`IOVA frame ${req.iovaFrame} is outside the walker's index table`);
    return this.walk(req);
  }
}

export const crashingVendor = plant('flat-planted-crash', 'flat IOMMU that throws RangeError on huge IOVAs and invalidation sizes', (ctx) => new CrashingDriver(ctx));
