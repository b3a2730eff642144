import type { DomainDump, IommuDomain } from '@ioasid/core';
import { FlatIommuDriver, NestedDomain } from '@ioasid-example/flat-iommu';
import { plant } from './register.js';

/**
 * Bug 6 of issue 15: DUMP_PGTABLE of a guest table follows the guest's pointers with no bound,
 * so a self-referencing guest table keeps it walking forever.
 */
class EndlessDumpDriver extends FlatIommuDriver {
  override createDomain(req: Parameters<FlatIommuDriver['createDomain']>[0]): IommuDomain {
    const dom = super.createDomain(req);
    if (dom instanceof NestedDomain) {
      const dump = dom.dump.bind(dom);
      dom.dump = (): DomainDump => {
        const d = dump();
        // Follow entry 0 of each table the guest points at, as long as it is valid.
        let gpa = dom.bound ? BigInt(dom.bound.root) << 12n : null;
        const chain: bigint[] = [];
        while (gpa !== null) {
          const s2 = dom.parent.lookup(gpa);
          if (s2.output === null) break;
          const raw = this.ctx.hostMemory.u64(Number(s2.output));
          if ((raw & 1n) === 0n) break;
          chain.push(gpa);
          gpa = raw & 0x000ffffffffff000n;
        }
        return { ...d, context: { ...d.context, chain } };
      };
    }
    return dom;
  }
}

export const endlessDumpVendor = plant('flat-planted-endless-dump', 'flat IOMMU whose DUMP_PGTABLE follows guest pointers without a bound', (ctx) => new EndlessDumpDriver(ctx));
