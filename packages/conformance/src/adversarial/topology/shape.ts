import fc from 'fast-check';
import type { DeviceOptions } from '@ioasid/core';

/**
 * A random machine: IOMMU groups of 1–3 pdevs, some pdevs with mdevs (one of them possibly
 * ENQCMD-capable), some with ATS. Group numbers are 0x700 + the group's index, so a message
 * says "p1 (group 0x701)".
 */
export interface Shape {
  groups: number[];
  mdevs: number[];
  enqcmd: boolean;
  ats: boolean;
}

export const shapeArb: fc.Arbitrary<Shape> = fc.record({
  // The first group usually has siblings: the group rules need them.
  groups: fc
    .tuple(fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 2, max: 3 }) }, { weight: 1, arbitrary: fc.constant(1) }), fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }))
    .map(([first, rest]) => [first, ...rest]),
  mdevs: fc.array(fc.nat({ max: 2 }), { minLength: 0, maxLength: 5 }),
  enqcmd: fc.boolean(),
  ats: fc.boolean(),
});

/** At most this many mdevs on one machine (each costs sweeps). */
const MAX_MDEVS = 3;

export function devicesOf(shape: Shape): DeviceOptions[] {
  const pdevs: DeviceOptions[] = [];
  shape.groups.forEach((n, gi) => {
    for (let k = 0; k < n; k++) pdevs.push({ name: `p${pdevs.length}`, group: 0x700 + gi, ats: shape.ats && k === 0 });
  });
  const out: DeviceOptions[] = [...pdevs];
  let mdevs = 0;
  pdevs.forEach((p, j) => {
    for (let k = 0; k < (shape.mdevs[j] ?? 0) && mdevs < MAX_MDEVS; k++, mdevs++) {
      out.push({ name: `${p.name}m${k}`, kind: 'mdev', parent: p.name, enqcmd: shape.enqcmd && mdevs === 0 });
    }
  });
  return out;
}
