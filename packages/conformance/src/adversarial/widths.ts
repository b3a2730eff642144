import fc from 'fast-check';
import type { CaseDef, KitEnv } from '../types.js';
import { closeFd } from '../kit.js';
import { scaled } from './budget.js';
import { Failures } from './failures.js';
import { checkProperty } from './property.js';
import { Tally, reporting } from './tally.js';
import { mapSpace, nestedChild, type Child, type MapSpace } from './widths/setup.js';
import { probeAt } from './widths/probes.js';
import { HOST_SIZES, hostTop } from './widths/host-top.js';
import { TOP, widthIovas } from './widths/values.js';

/** Random IOVAs near powers of two per case at the kit's default run count. */
const RANDOM = 40;

/** IOVAs near random powers of two, a few pages and bytes off. */
function randomIovas(env: KitEnv, s: MapSpace, child: Child | undefined, tally: Tally): void {
  const near = fc
    .record({ k: fc.integer({ min: 12, max: 64 }), pages: fc.integer({ min: -3, max: 3 }), bytes: fc.constantFrom(0n, 8n, 0xff8n) })
    .map(({ k, pages, bytes }) => (1n << BigInt(k)) + BigInt(pages) * 4096n + bytes)
    .filter((v) => v >= 0n && v <= TOP);
  checkProperty(near, (iova) => probeAt(s, child, iova, tally), scaled(env, RANDOM), env.seed, { caseId: 'adv-widths', vendor: env.vendor });
}

/**
 * Addresses at every width: DMA, MAP_DMA, UNMAP_DMA, INVALIDATE_CACHE and LOOKUP
 * at IOVAs and sizes around every power of two up to 2^64, on a 'map' IOASID and a nested
 * child; and VMM buffers at the top of hosts of every size. Only IoasidError/DmaFault may come
 * out; every DMA that goes through moves exactly the expected bytes at the expected address.
 */
export const widthsCase: CaseDef = {
  id: 'adv-widths',
  group: 'adversarial',
  title: 'adversarial: addresses at every width (IOVAs and sizes around 2^k up to 2^64, buffers at the top of host memory)',
  run(env, caps) {
    const tally = new Tally();
    return reporting(tally, () => {
      const failures = new Failures();
      failures.run(() => {
        const s = mapSpace(env);
        const child = nestedChild(s, caps);
        for (const iova of widthIovas()) probeAt(s, child, iova, tally);
        randomIovas(env, s, child, tally);
        closeFd(s.fd);
      });
      for (const size of HOST_SIZES) failures.run(() => hostTop(env, size, tally));
      failures.throwIfAny();
    });
  },
};
