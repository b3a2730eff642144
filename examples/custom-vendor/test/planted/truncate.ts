import type { IommuDomain, PhysRuns } from '@ioasid/core';
import { FlatIommuDriver, MapDomain } from '@ioasid-example/flat-iommu';
import { plant } from './register.js';

/** Frames as a 40-bit address field keeps them (bits 39:12): the rest is silently cut. */
const KEPT_FRAMES = 2 ** 28;

class TruncatingDriver extends FlatIommuDriver {
  override createDomain(req: Parameters<FlatIommuDriver['createDomain']>[0]): IommuDomain {
    const dom = super.createDomain(req);
    if (dom instanceof MapDomain) {
      const map = dom.map.bind(dom);
      // Bug 1 of issue 15: MAP_DMA writes an entry that keeps only the low bits of the frame.
      dom.map = (iova: bigint, size: bigint, phys: PhysRuns, prot: number) =>
        map(iova, size, { frame: (i: number) => phys.frame(i) % KEPT_FRAMES, run: (i: number) => phys.run(i) }, prot);
    }
    return dom;
  }
}

export const truncatingVendor = plant('flat-planted-truncate', 'flat IOMMU whose stage-2 entries keep only 40 address bits', (ctx) => new TruncatingDriver(ctx));
