import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PROT_READ, PROT_WRITE, contiguousRuns, type DeviceDesc, type FaultRecord } from '@ioasid/core';
import { PowerNvIommu, dynamicWindow, type TceWindowDomain } from '../src/index.js';
import { newHost } from './helpers.js';

const DEV: DeviceDesc = { name: 'd0', rid: 0x0108, kind: 'pdev', group: 1, ats: false, pri: false, enqcmd: false };

interface Spec {
  pageShift: number;
  windowShift: number;
  levels: number | undefined;
}

const specArb: fc.Arbitrary<Spec> = fc
  .record({
    pageShift: fc.constantFrom(12, 16, 21, 30),
    extra: fc.integer({ min: 1, max: 26 }),
    levels: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
  })
  .map(({ pageShift, extra, levels }) => ({ pageShift, windowShift: pageShift + extra, levels }))
  .filter((s) => {
    try {
      dynamicWindow({ pageSize: 1n << BigInt(s.pageShift), size: 1n << BigInt(s.windowShift), levels: s.levels });
      return true;
    } catch {
      return false;
    }
  });

const opsArb = fc.array(
  fc.record({ page: fc.nat(), count: fc.integer({ min: 1, max: 4 }), prot: fc.constantFrom(PROT_READ, PROT_WRITE, PROT_READ | PROT_WRITE), unmap: fc.boolean() }),
  { minLength: 1, maxLength: 12 },
);

describe('walker vs engine: the PHB translates exactly what the radix engine decodes from memory', () => {
  it('random windows (page size, size, levels), maps, unmaps and probes', () => {
    fc.assert(
      fc.property(specArb, opsArb, fc.array(fc.tuple(fc.nat(), fc.nat(), fc.boolean()), { minLength: 1, maxLength: 24 }), (spec, ops, probes) => {
        const host = newHost();
        const iommu = new PowerNvIommu(host, { hw560152: false });
        iommu.probeDevice(DEV);
        const dom = iommu.createDomain({
          protocol: 'map',
          format: { window: { pageSize: 1n << BigInt(spec.pageShift), size: 1n << BigInt(spec.windowShift), levels: spec.levels } },
        }) as TceWindowDomain;
        dom.attach(DEV, undefined);
        const pe = iommu.peOf(DEV)!;
        const pageFrames = 2 ** (spec.pageShift - 12);
        const windowPages = 2 ** (spec.windowShift - spec.pageShift);
        const used = new Set<number>();
        const mapped: [bigint, bigint][] = [];
        let phys = 0x4000000; // host frames, aligned to every IO page size
        const pageBytes = 1n << BigInt(spec.pageShift);
        for (const op of ops) {
          const first = op.page % windowPages;
          const count = Math.min(op.count, windowPages - first);
          let free = true;
          for (let p = first; p < first + count; p++) if (used.has(p)) free = false;
          if (!free) continue;
          for (let p = first; p < first + count; p++) used.add(p);
          const iova = dom.window.busStart + BigInt(first) * pageBytes;
          const size = BigInt(count) * pageBytes;
          dom.map(iova, size, contiguousRuns(phys, count * pageFrames), op.prot);
          phys += (count + 1) * pageFrames;
          mapped.push([iova, size]);
          if (op.unmap && mapped.length > 1) {
            const [ui, us] = mapped.shift()!;
            dom.unmap(ui, us);
          }
        }
        // Probe mapped pages, neighbours, and the table's whole reach (beyond the asked-for window too).
        const reachFrames = 2 ** (dom.format.levelBits() * dom.format.levels + spec.pageShift - 12);
        const firstFrame = Number(dom.window.busStart >> 12n);
        for (const [a, b, write] of probes) {
          const known = [...used];
          const rel = a % 3 === 0 || known.length === 0 ? a % reachFrames : (known[a % known.length] * pageFrames + (b % pageFrames)) % reachFrames;
          const r = iommu.translate({ rid: DEV.rid, pasid: -1, iovaFrame: firstFrame + rel, write, privileged: false });
          const leaf = dom.table.lookup(rel);
          if (!leaf) {
            expect((r as FaultRecord).name).toBe('TCE_INVALID');
          } else if (!(leaf.perms & (write ? PROT_WRITE : PROT_READ))) {
            expect((r as FaultRecord).name).toBe('PERMISSION');
          } else {
            expect(r).toBe(leaf.frame);
          }
          iommu.firmware.eehFreezeClear(pe);
        }
      }),
      { numRuns: 100 },
    );
  });
});
