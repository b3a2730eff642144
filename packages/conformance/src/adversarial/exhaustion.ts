import type { CaseDef } from '../types.js';
import { probeWindow } from '../properties/common.js';
import { scaled } from './budget.js';
import { Tally, reporting } from './tally.js';
import { Failures } from './failures.js';
import type { Phase } from './exhaustion/context.js';
import { pins, vmmTouches } from './exhaustion/host.js';
import { kernelMemory } from './exhaustion/kernel.js';
import { hostPasids } from './exhaustion/pasids.js';
import { idSpaces } from './exhaustion/ids.js';

/** Operations per loop at the kit's default run count (enough to pass a 16-bit ID space). */
const OPS = 70_000;

/**
 * Exhaustion: host memory through VMM touches and MAP_DMA pins, kernel memory
 * through ALLOC with the VMM holding the rest, host PASIDs, and every ID space behind ALLOC, each
 * driven until it runs out: a clean ENOMEM/ENOSPC that changes nothing, another fd's bytes and
 * DMA unchanged throughout, and room again after freeing. Loops stop at a budget and report.
 */
export const exhaustionCase: CaseDef = {
  id: 'adv-exhaustion',
  group: 'adversarial',
  title: 'adversarial: exhaust host memory, kernel memory, PASIDs and ID spaces — clean ENOMEM/ENOSPC, other fds untouched, room after freeing',
  run(env, caps) {
    const tally = new Tally();
    return reporting(tally, () => {
      const p: Phase = { env, w: probeWindow(env, 4), tally, maxOps: scaled(env, OPS, 4096) };
      const failures = new Failures();
      failures.run(() => vmmTouches(p));
      failures.run(() => pins(p));
      failures.run(() => kernelMemory(p));
      failures.run(() => hostPasids({ ...p, maxOps: scaled(env, 2048, 256) }, caps));
      failures.run(() => idSpaces(p));
      failures.throwIfAny();
    });
  },
};
