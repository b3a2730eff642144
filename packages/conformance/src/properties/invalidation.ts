import fc from 'fast-check';
import type { CaseDef } from '../types.js';
import {
  check,
  closeFd,
  expectDmaFault,
  expectOk,
  firstFormat,
  gpaSpace,
  guestData,
  guestTable,
  openFd,
  sameBytes,
  tryDma,
} from '../kit.js';
import { bindNestedRoute, nestedRouteNeeds, rejectsNestedRoutes, routeMachine } from '../nested-route.js';
import { assertProperty, drainFaults } from './common.js';

const SLOTS = 8;
const PAGES = 8;

type Change = { slot: number; kind: 'retarget' | 'unmap' | 'map'; target: number; inval: 'page' | 'range' | 'all' };

const change: fc.Arbitrary<Change> = fc.record({
  slot: fc.nat({ max: SLOTS - 1 }),
  kind: fc.constantFrom('retarget' as const, 'unmap' as const, 'map' as const),
  target: fc.nat({ max: PAGES - 1 }),
  inval: fc.constantFrom('page' as const, 'range' as const, 'all' as const),
});

/**
 * Invalidation discipline on a bound guest table: the guest changes a PTE the device just used;
 * without INVALIDATE_CACHE the IOMMU still uses the old translation (its caches are real); after
 * INVALIDATE_CACHE covering it, the new one (or a fault, for an unmapped page).
 */
export const invalidationCase: CaseDef = {
  id: 'prop-invalidation',
  group: 'property',
  title: 'property: invalidation discipline — stale guest PTE used until INVALIDATE_CACHE, the new one after',
  needs: (caps) => nestedRouteNeeds(caps, caps.dev),
  rejects: (env, caps) => rejectsNestedRoutes(env, caps.dev),
  run(env, caps) {
    assertProperty(env, 'prop-invalidation', fc.record({ pasid: fc.boolean(), changes: fc.array(change, { minLength: 3, maxLength: 12, size: 'max' }) }), (p) => {
      const m = routeMachine(env, caps, caps.dev);
      const { fd, devs } = openFd(m, 'dev0');
      const dev = devs[0];
      const { parent, info } = gpaSpace(m, fd, devs);
      const format = firstFormat(info);
      const gt = guestTable(m, format);
      const pages = [...Array(PAGES).keys()].map((i) => guestData(m, gt.page, 4000 + i));
      const gva = (s: number) => BigInt(s + 1) * gt.page;
      const model: (number | null)[] = [...Array(SLOTS).keys()].map((s) => (s < 6 ? s : null));
      model.forEach((pg, s) => pg !== null && gt.pt.map(gva(s), pages[pg].gpa, gt.page));
      const { child, pasid } = bindNestedRoute(m, fd, parent, dev, caps, info, gt, { pasid: p.pasid, preferred: 4 });

      p.changes.forEach((c, i) => {
        const at = `change ${i} ${JSON.stringify(c)}`;
        const cur = model[c.slot];
        // 1. The device uses the current translation (and the IOTLB caches it).
        if (cur === null) expectDmaFault(dev, () => dev.dmaRead(gva(c.slot), 8, { pasid }), `${at}: unmapped slot before the change`);
        else sameBytes(expectOk(() => dev.dmaRead(gva(c.slot), 64, { pasid }), `${at}: DMA before the change`), pages[cur].bytes, `${at}: before the change`);
        // 2. The guest edits its table, without invalidating.
        let next: number | null;
        if (c.kind === 'unmap' && cur !== null) {
          gt.pt.unmap(gva(c.slot), gt.page);
          next = null;
        } else {
          next = c.target === cur ? (c.target + 1) % PAGES : c.target;
          if (cur !== null) gt.pt.unmap(gva(c.slot), gt.page);
          gt.pt.map(gva(c.slot), pages[next].gpa, gt.page);
        }
        // 3. Stale: a translation the device used is still cached.
        if (cur !== null) {
          const r = tryDma(dev, () => dev.dmaRead(gva(c.slot), 64, { pasid }), `${at}: DMA after the guest change, before INVALIDATE_CACHE`);
          check(r.ok, () => `${at}: before INVALIDATE_CACHE the cached translation must still be used, but the DMA faulted (${r.ok ? '' : r.fault.message})`);
          if (r.ok) sameBytes(r.value, pages[cur].bytes, `${at}: before INVALIDATE_CACHE the old page is still reached (the IOTLB is real)`);
        }
        // 4. INVALIDATE_CACHE covering the page: the new translation.
        const req = c.inval === 'all' ? { ioasid: child, all: true as const } : c.inval === 'page' ? { ioasid: child, iova: gva(c.slot), size: gt.page } : { ioasid: child, iova: 0n, size: BigInt(SLOTS + 2) * gt.page };
        expectOk(() => fd.invalidateCache(req), `${at}: INVALIDATE_CACHE ${c.inval}`);
        if (next === null) expectDmaFault(dev, () => dev.dmaRead(gva(c.slot), 8, { pasid }), `${at}: after INVALIDATE_CACHE the unmapped page faults`);
        else sameBytes(expectOk(() => dev.dmaRead(gva(c.slot), 64, { pasid }), `${at}: DMA after INVALIDATE_CACHE`), pages[next].bytes, `${at}: after INVALIDATE_CACHE the new page is reached`);
        model[c.slot] = next;
        drainFaults(m);
      });
      // Every other slot still translates as the model says.
      model.forEach((pg, s) => {
        if (pg === null) expectDmaFault(dev, () => dev.dmaRead(gva(s), 8, { pasid }), `final: slot ${s} unmapped`);
        else sameBytes(expectOk(() => dev.dmaRead(gva(s), 64, { pasid }), `final: slot ${s}`), pages[pg].bytes, `final: slot ${s}`);
      });
      closeFd(fd);
    });
  },
};
