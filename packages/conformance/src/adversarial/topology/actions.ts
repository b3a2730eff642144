import fc from 'fast-check';

/** vPASIDs the sequences use: small, so that they meet the host PASIDs the kernel hands out to mdevs. */
export const VPASIDS = [1, 2, 3, 5] as const;

/** Indices are taken modulo the live lists when a step runs (like prop-model). */
export type TopoAction =
  | { t: 'open' }
  | { t: 'close'; f: number }
  /** `group`: every pdev of d's group too; `family`: and their mdevs (which the rules forbid). */
  | { t: 'bind'; d: number; f: number; mode: 'one' | 'group' | 'family' }
  | { t: 'unbind'; d: number }
  | { t: 'alloc'; f: number }
  | { t: 'nest'; f: number; o: number }
  | { t: 'free'; f: number; o: number }
  /**
   * `group`: every pdev of d's group bound to the same fd, one ATTACH each, to the same IOASID
   * (a group attaches as a whole); `spread`: each to a different IOASID (which the rules forbid).
   */
  | { t: 'attach'; d: number; o: number; p: number | null; mode: 'one' | 'group' | 'spread' }
  | { t: 'detach'; d: number; o: number; p: number | null }
  | { t: 'map'; f: number; o: number; s: number; n: number; target: number }
  | { t: 'unmap'; f: number; o: number; s: number; n: number }
  | { t: 'unmapAll'; f: number; o: number }
  | { t: 'sweep' };

const ix = fc.nat({ max: 15 });
const pasid = fc.option(fc.nat({ max: VPASIDS.length - 1 }), { freq: 3, nil: null });

export function actionArb(slots: number): fc.Arbitrary<TopoAction> {
  const slot = fc.nat({ max: slots - 1 });
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant<TopoAction>({ t: 'open' }) },
    { weight: 1, arbitrary: fc.record({ f: ix }).map((r): TopoAction => ({ t: 'close', ...r })) },
    { weight: 5, arbitrary: fc.record({ d: ix, f: ix, mode: fc.constantFrom('one' as const, 'group' as const, 'family' as const) }).map((r): TopoAction => ({ t: 'bind', ...r })) },
    { weight: 1, arbitrary: fc.record({ d: ix }).map((r): TopoAction => ({ t: 'unbind', ...r })) },
    { weight: 3, arbitrary: fc.record({ f: ix }).map((r): TopoAction => ({ t: 'alloc', ...r })) },
    { weight: 1, arbitrary: fc.record({ f: ix, o: ix }).map((r): TopoAction => ({ t: 'nest', ...r })) },
    { weight: 1, arbitrary: fc.record({ f: ix, o: ix }).map((r): TopoAction => ({ t: 'free', ...r })) },
    { weight: 7, arbitrary: fc.record({ d: ix, o: ix, p: pasid, mode: fc.constantFrom('one' as const, 'group' as const, 'spread' as const) }).map((r): TopoAction => ({ t: 'attach', ...r })) },
    { weight: 2, arbitrary: fc.record({ d: ix, o: ix, p: pasid }).map((r): TopoAction => ({ t: 'detach', ...r })) },
    {
      weight: 6,
      arbitrary: fc.record({ f: ix, o: ix, s: slot, n: fc.integer({ min: 1, max: 2 }), target: ix }).map((r): TopoAction => ({ t: 'map', ...r })),
    },
    { weight: 1, arbitrary: fc.record({ f: ix, o: ix, s: slot, n: fc.integer({ min: 1, max: 3 }) }).map((r): TopoAction => ({ t: 'unmap', ...r })) },
    { weight: 1, arbitrary: fc.record({ f: ix, o: ix }).map((r): TopoAction => ({ t: 'unmapAll', ...r })) },
    { weight: 1, arbitrary: fc.constant<TopoAction>({ t: 'sweep' }) },
  );
}
