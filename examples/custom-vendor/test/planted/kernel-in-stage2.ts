import { PROT_READ, contiguousRuns, type DomainRequest, type IommuDomain } from '@ioasid/core';
import { FlatIommuDriver, MapDomain, MSI_HOLE } from '@ioasid-example/flat-iommu';
import { plant } from './register.js';

/**
 * Bug 10 (issue 21): kernel memory in a device's stage 2. For each nested child, the kernel
 * writes a context of its own and maps that frame read-only into the parent's stage 2 at the
 * first page of the MSI hole, where no MAP_DMA can reach — as SMMUv3's kernel CD table once was.
 * A guest table pointing there reads kernel memory.
 */
class KernelInStage2Driver extends FlatIommuDriver {
  private next = 0;

  override createDomain(req: DomainRequest): IommuDomain {
    const d = super.createDomain(req);
    if (req.protocol !== 'map' && req.parent instanceof MapDomain) {
      const frame = this.ctx.hostMemory.allocFrames(1, 1);
      this.ctx.hostMemory.write(frame * 4096, new Uint8Array([0x6b, 0x65, 0x72, 0x6e, 0x65, 0x6c, 0x21, 0x21])); // "kernel!!"
      const gfn = Number(MSI_HOLE.start >> 12n) + (this.next++ % 256);
      try {
        req.parent.pt.map(gfn, 1, contiguousRuns(frame, 1), PROT_READ);
      } catch {
        // Already there from an earlier child: the planted leak is in place either way.
      }
    }
    return d;
  }
}

export const kernelInStage2Vendor = plant('flat-planted-kernel-in-stage2', 'flat IOMMU that maps a kernel frame into the parent stage 2 of each nested child', (ctx) => new KernelInStage2Driver(ctx));
