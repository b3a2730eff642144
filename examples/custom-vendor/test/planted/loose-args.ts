import type { IommuDomain } from '@ioasid/core';
import { FlatIommuDriver } from '@ioasid-example/flat-iommu';
import { plant } from './register.js';

/**
 * Bug 7 of issue 15: junk arguments. The driver declares a vendor ALLOC field (`bogus`), so core
 * passes it through, and then neither checks nor uses it: a number is silently accepted, and an
 * object is read without a type check (TypeError instead of EINVAL).
 */
class LooseArgsDriver extends FlatIommuDriver {
  readonly allocFormatKeys = { map: ['bogus'] } as const;

  override createDomain(req: Parameters<FlatIommuDriver['createDomain']>[0]): IommuDomain {
    const { bogus, ...format } = req.format as Record<string, unknown>;
    if (typeof bogus === 'object' && bogus !== null) (bogus as { size: { valueOf(): number } }).size.valueOf();
    return super.createDomain({ ...req, format });
  }
}

export const looseArgsVendor = plant('flat-planted-loose-args', 'flat IOMMU that takes an ALLOC field it never checks', (ctx) => new LooseArgsDriver(ctx));
