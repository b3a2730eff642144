import fc from 'fast-check';
import type { CaseDef, KitEnv } from '../types.js';
import { probeWindow } from '../properties/common.js';
import { actionArb } from './topology/actions.js';
import { shapeArb } from './topology/shape.js';
import { runSequence } from './topology/run.js';
import { checkProperty } from './property.js';
import { scaled } from './budget.js';
import { Tally, reporting } from './tally.js';

const SLOTS = 6;
/** Sequences per case at the kit's default run count. */
const SEQUENCES = 40;

function run(env: KitEnv, strict: boolean): string {
  const tally = new Tally();
  return reporting(tally, () => {
    const w = probeWindow(env, SLOTS);
    const arb = fc.record({ shape: shapeArb, actions: fc.array(actionArb(SLOTS), { minLength: 6, maxLength: 24, size: 'max' }) });
    checkProperty(arb, (p) => runSequence(env, w, p.shape, p.actions, strict, tally), scaled(env, SEQUENCES), env.seed, { caseId: strict ? 'adv-topology-rules' : 'adv-topology', vendor: env.vendor });
  });
}

/**
 * Isolation over random topologies: random machines (groups of 1–3 pdevs, pdevs
 * with mdevs), several fds, random bind/attach/detach/nesting/map/unmap/free/close sequences
 * against a shadow model of what each (device, PASID) may reach. Every DMA from every device
 * with every PASID in use (and none) returns exactly the model's bytes or faults; every refused
 * call changes nothing.
 */
export const topologyCase: CaseDef = {
  id: 'adv-topology',
  group: 'adversarial',
  title: 'adversarial: random topologies, fds and sequences — every DMA of every (device, PASID) reaches only what the model allows',
  run: (env) => run(env, false),
};

/**
 * The topology rules themselves, on the same random sequences: a sibling of a group bound to
 * another fd, an mdev and its parent bound together (EBUSY), a group split across IOASIDs (EINVAL).
 */
export const topologyRulesCase: CaseDef = {
  id: 'adv-topology-rules',
  group: 'adversarial',
  title: 'adversarial: topology rules on random sequences — group to one fd (EBUSY), mdev vs parent (EBUSY), group RID to one IOASID (EINVAL)',
  run: (env) => run(env, true),
};
