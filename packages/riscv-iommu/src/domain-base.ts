import { fail, type DeviceDesc, type DomainDump, type InvalidateRequest, type IommuDomain, type IovaRange, type LookupView, type PhysRuns, type Protocol } from '@ioasid/core';
import type { DomainHost } from './domain-host.js';

/** 4 KiB, 2 MiB and 1 GiB: the leaves the kernel builds in every Sv and Svx4 table. */
export const PAGE_SIZES: readonly bigint[] = [1n << 12n, 1n << 21n, 1n << 30n];

/** Above this many pages, an invalidation covers the whole address space (Linux's riscv_iommu_iotlb_inval does the same past a limit). */
export const PER_PAGE_LIMIT = 512;

/** The pages of [iova, iova + size) one per-page invalidation loop covers, or null for "all". */
export function pagesOf(iova: bigint, size: bigint): bigint[] | null {
  const first = iova >> 12n;
  const last = (iova + size - 1n) >> 12n;
  if (last - first + 1n > BigInt(PER_PAGE_LIMIT)) return null;
  const out: bigint[] = [];
  for (let p = first; p <= last; p++) out.push(p << 12n);
  return out;
}

/** The kernel's side of one RISC-V IOMMU address space. */
export abstract class RvDomain implements IommuDomain {
  abstract readonly protocol: Protocol;

  constructor(readonly drv: DomainHost) {}

  abstract info(): { pageSizes: bigint[]; permittedRanges: IovaRange[] };

  checkAttach(dev: DeviceDesc, pasid: number | undefined, replacing?: IommuDomain): string | null {
    return this.drv.routeProblem(this, dev, pasid, replacing);
  }

  attach(dev: DeviceDesc, pasid: number | undefined, _replacing?: IommuDomain): void {
    this.drv.route(this, dev, pasid);
  }

  detach(dev: DeviceDesc, pasid: number | undefined, restoring?: IommuDomain): void {
    this.drv.unroute(this, dev, pasid, restoring);
  }

  map(_iova: bigint, _size: bigint, _phys: PhysRuns, _prot: number): void {
    fail('EOPNOTSUPP', `a '${this.protocol}' IOASID has no kernel-managed mappings`);
  }

  unmap(_iova: bigint, _size: bigint): void {
    fail('EOPNOTSUPP', `a '${this.protocol}' IOASID has no kernel-managed mappings`);
  }

  /** Drops what the unit cached for this domain (after a route left it or its table changed). */
  abstract flush(): void;
  abstract invalidate(req: InvalidateRequest): void;
  abstract dump(): DomainDump;
  abstract lookup(iova: bigint, pasid?: number): LookupView;
  abstract destroy(): void;
}
