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

/**
 * A root GPA a bind puts in a 44-bit PPN (iosatp.PPN, pdtp.PPN): misaligned → EINVAL, too wide
 * to be held → ERANGE, before anything is written.
 */
export function checkRootGpa(addr: bigint, kind: string, field: string): void {
  if (typeof addr !== 'bigint' || addr < 0n || addr % 4096n !== 0n) fail('EINVAL', `${kind} root must be a 4 KiB aligned GPA (got ${String(addr)})`);
  if (addr >> 56n !== 0n) fail('ERANGE', `${kind} root 0x${addr.toString(16)} does not fit ${field} (44 bits of 4 KiB pages)`);
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
