import { fail } from '@ioasid/core';
import { FlatIommuDriver } from '@ioasid-example/flat-iommu';
import { plant } from './register.js';

/**
 * Bug 8 of issue 15: an ID allocator that scans from the first ID for a free one, so that each
 * allocation costs as much as the IDs in use (57,350 ALLOCs once took 62 s).
 */
class ScanningIdsDriver extends FlatIommuDriver {
  private readonly used = new Map<string, true>();

  override allocDid(): number {
    let did = 1;
    while (this.used.has(`did-${did}`)) did++;
    if (did > 0xffff) fail('ENOSPC', 'flat-iommu: out of domain IDs');
    this.used.set(`did-${did}`, true);
    return did;
  }

  override freeDid(did: number): void {
    this.used.delete(`did-${did}`);
  }
}

export const scanningIdsVendor = plant('flat-planted-scanning-ids', 'flat IOMMU whose domain-ID allocator scans from 1', (ctx) => new ScanningIdsDriver(ctx));
