/**
 * The hardware alone over a memory image (VendorRegistration.hardware, issue 18 item 6): after
 * several flows, the machine's host memory (its written chunks) and a registers() snapshot are
 * enough to rebuild a unit that walks every request exactly as the live one does, read for read.
 * The register values may also come as a user's own JSON with the same names.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AllocInjector, HostMemory, type DmaRequest } from '@ioasid/core';
import { buildCap, buildEcap, ECAP_SMTS, intelVtd, VtdUnit, withField } from '../src/index.js';
import { flowRequests, flowsMachine, RID } from './flows.js';
import { expectErrno } from './helpers.js';
import { flushCaches, traced, unrecorded } from './walk-support.js';

/** A fresh host memory holding the image: each written chunk copied to its address. */
function fromImage(source: HostMemory): HostMemory {
  const mem = new HostMemory(new AllocInjector(), source.size);
  for (const { pa, bytes } of source.image()) mem.write(pa, bytes);
  return mem;
}

/** Registers through JSON, as a user would keep them (hex strings), and back. */
function viaJson(regs: Record<string, bigint>): Record<string, bigint> {
  const json = JSON.stringify(Object.fromEntries(Object.entries(regs).map(([k, v]) => [k, `0x${v.toString(16)}`])));
  return Object.fromEntries(Object.entries(JSON.parse(json) as Record<string, string>).map(([k, v]) => [k, BigInt(v)]));
}

function imageOf() {
  const flows = flowsMachine();
  const regs = flows.m.iommu.registers();
  const image = intelVtd.hardware!(fromImage(flows.m.hostMemory), viaJson(regs)) as VtdUnit;
  return { ...flows, regs, image };
}

describe('the unit rebuilt from a memory image and a register snapshot', () => {
  it('holds the same registers as the unit the image came from', () => {
    const { regs, image } = imageOf();
    expect(image.registers()).toEqual(regs);
    expect(image.translationEnabled).toBe(true);
  });

  it('walks every route of the flows (mapped, unmapped, edges, every PASID) with the same result and the same reads', () => {
    const { driver, image, hostPasid } = imageOf();
    for (const req of flowRequests(hostPasid)) {
      const live = traced(driver.unit, req);
      const copy = traced(image, req);
      expect(copy, `RID 0x${req.rid.toString(16)} PASID ${req.pasid} frame 0x${req.iovaFrame.toString(16)}`).toEqual(live);
      // Its own caches are empty: probing them first changes nothing but the probes.
      const cached = traced(image, req, true);
      expect(cached.trace.events.filter((e) => 'structure' in e)).toEqual(live.trace.events);
    }
  });

  it('any request near the flows: the same result and the same reads (property)', () => {
    const { driver, image, hostPasid } = imageOf();
    const reqArb = fc.record({
      rid: fc.constantFrom(RID.sl, RID.nested, RID.pf, 0x09),
      pasid: fc.constantFrom(-1, 7, hostPasid, 1),
      iovaFrame: fc.oneof(fc.nat({ max: 0x300 }), fc.constantFrom(0x40, 0x41, 0x90, 0x7f0000000, 0xfee00, 2 ** 36 - 1, 2 ** 52 - 1)),
      write: fc.boolean(),
      privileged: fc.boolean(),
    });
    fc.assert(
      fc.property(reqArb, (req: DmaRequest) => {
        expect(traced(image, req)).toEqual(traced(driver.unit, req));
      }),
      { numRuns: 300 },
    );
  });

  it('translate on the rebuilt unit gives what the live walk gives (it has its own FRCD and page request queue)', () => {
    const { driver, image, hostPasid } = imageOf();
    const reqs = flowRequests(hostPasid);
    const live = reqs.map((req) => unrecorded(traced(driver.unit, req).result));
    reqs.forEach((req, i) => {
      flushCaches(image, [req.rid]); // the walk above read memory only
      expect(unrecorded(image.translate(req))).toEqual(live[i]);
    });
  });
});

describe('hardware(): the register values it needs', () => {
  const mem = () => new HostMemory(new AllocInjector());
  const minimal = () => ({ CAP_REG: buildCap({ addressWidth: 48, faultRecords: 8 }), ECAP_REG: buildEcap(), RTADDR_REG: 0x1000_0400n });

  it('CAP_REG, ECAP_REG and RTADDR_REG alone build a translating unit (SRTP, then TE)', () => {
    const u = intelVtd.hardware!(mem(), minimal()) as VtdUnit;
    expect(u.registers()).toMatchObject({ RTADDR_REG: 0x1000_0400n, VER_REG: 0x30n });
    expect(u.translationEnabled).toBe(true);
    // The root table page is empty: the root entry is not present.
    expect(u.translate!({ rid: 8, pasid: -1, iovaFrame: 1, write: false, privileged: false })).toMatchObject({ name: 'SM_ROOT_ENTRY_P' });
  });

  it('GSTS_REG, when given, says which commands were done: TES = 0 leaves translation off', () => {
    const u = intelVtd.hardware!(mem(), { ...minimal(), GSTS_REG: 1n << 30n }) as VtdUnit;
    expect(u.translationEnabled).toBe(false);
    expect(u.translate!({ rid: 8, pasid: -1, iovaFrame: 0x123, write: false, privileged: false })).toBe(0x123);
  });

  it('a missing or malformed register is EINVAL naming it', () => {
    for (const name of ['CAP_REG', 'ECAP_REG', 'RTADDR_REG'] as const) {
      const r: Record<string, bigint> = minimal();
      delete r[name];
      expectErrno(() => intelVtd.hardware!(mem(), r), 'EINVAL', new RegExp(name));
    }
    expectErrno(() => intelVtd.hardware!(mem(), { ...minimal(), RTADDR_REG: 0x1000 as unknown as bigint }), 'EINVAL', /RTADDR_REG/);
    expectErrno(() => intelVtd.hardware!(mem(), { ...minimal(), GSTS_REG: 1n << 32n }), 'EINVAL', /GSTS_REG.*32-bit/);
    expectErrno(() => intelVtd.hardware!(mem(), { ...minimal(), CAP_REG: -1n }), 'EINVAL', /CAP_REG/);
    expectErrno(() => intelVtd.hardware!(mem(), { ...minimal(), DMAR_BOGUS: 0n }), 'EINVAL', /DMAR_BOGUS/);
    expectErrno(() => intelVtd.hardware!(mem(), { ...minimal(), 'FRCD_REG[8]': 0n }), 'EINVAL', /FRCD_REG\[8\].*NFR/);
    expectErrno(() => intelVtd.hardware!(mem(), { ...minimal(), ECAP_REG: withField(buildEcap(), ECAP_SMTS, 0) }), 'EINVAL', /ECAP_REG.*SMTS/);
    expectErrno(() => intelVtd.hardware!(mem(), null as unknown as Record<string, bigint>), 'EINVAL', /registers/);
  });

  it('FRCD registers and FSTS are taken over as given: a pending fault stays pending', () => {
    const { regs, image } = imageOf();
    const frcd = Object.keys(regs).filter((k) => k.startsWith('FRCD_REG'));
    expect(frcd).toHaveLength(8);
    for (const k of frcd) expect(image.read(k)).toBe(regs[k]);
    expect(image.read('FSTS_REG')).toBe(regs.FSTS_REG);
  });
});
